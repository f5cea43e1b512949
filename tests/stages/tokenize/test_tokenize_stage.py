"""The tokenize stage: columns, BOS/EOS framing, implementations agree, resources, errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from tok_textgen import corpus

from corpusforge.pipeline.api import trim_heap
from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.pipeline.registry import get_stage
from corpusforge.stages.tokenize.source import load_tokenizer
from corpusforge.stages.tokenize.stage import TokenizeStage, frame_ids


def docs(texts: list[str]) -> pa.Table:
    return pa.table(
        {
            "id": [f"d{i}" for i in range(len(texts))],
            "text": texts,
            "other": list(range(len(texts))),
        }
    )


def test_registered_and_columns() -> None:
    assert get_stage("tokenize") is TokenizeStage
    texts = ["Hello world", "", "日本語 text\n\n  x"]
    out = TokenizeStage(tokenizer="gpt2", device="cpu")(docs(texts))
    assert out.column_names == ["id", "text", "other", "input_ids", "n_tokens"]
    assert out.schema.field("input_ids").type == pa.list_(pa.int32())
    assert out.schema.field("n_tokens").type == pa.int64()
    hf = load_tokenizer("gpt2")
    eos = hf.token_to_id("<|endoftext|>")
    for text, ids, n in zip(
        texts, out["input_ids"].to_pylist(), out["n_tokens"].to_pylist(), strict=True
    ):
        assert ids == [*hf.encode(text, add_special_tokens=False).ids, eos]
        assert n == len(ids)


def test_bos_eos_options() -> None:
    table = docs(["abc def", "x"])
    plain = TokenizeStage(tokenizer="gpt2", add_eos=False, device="cpu")(table)
    both = TokenizeStage(tokenizer="gpt2", add_bos=True, bos_token="<|endoftext|>", device="cpu")(
        table
    )
    for p, b in zip(plain["input_ids"].to_pylist(), both["input_ids"].to_pylist(), strict=True):
        assert b == [50256, *p, 50256]


def test_frame_ids_handles_empty_documents() -> None:
    ids = np.asarray([5, 6, 7], dtype=np.int32)
    out, off = frame_ids(ids, np.asarray([0, 2, 2, 3]), bos=1, eos=2)
    assert off.tolist() == [0, 4, 6, 9]
    assert out.tolist() == [1, 5, 6, 2, 1, 2, 1, 7, 2]


@pytest.mark.parametrize("tokenizer", ["gpt2", "cl100k"])
def test_gigatoken_is_the_cpu_default_and_matches_hf(tokenizer: str) -> None:
    table = docs(corpus(seed=5, n=80))
    stage = TokenizeStage(tokenizer=tokenizer, device="cpu")
    out = stage(table)
    assert stage.backend == "gigatoken", stage.backend_reason
    ref = TokenizeStage(tokenizer=tokenizer, device="cpu", implementation="hf")(table)
    assert out["input_ids"].to_pylist() == ref["input_ids"].to_pylist()
    assert out["n_tokens"].to_pylist() == ref["n_tokens"].to_pylist()


def test_gigatoken_cache_is_emptied_past_its_budget_ids_unchanged() -> None:
    """gigatoken keeps every distinct pre-token it met: on a stream of new words (6 MB, its
    cache would take ~60) the worker builds a fresh tokenizer each time the resident memory
    the calls added reaches ``cache_mb`` (counted in the stage's metrics); the ids stay HF's."""
    rng = np.random.default_rng(3)
    words = rng.integers(ord("a"), ord("z") + 1, size=(600_000, 10), dtype=np.uint8)
    words[:, 0] = ord(" ")  # " qxkfwzpbj": ten bytes, one pre-token, almost never seen before
    blob = words.tobytes().decode()
    table = docs([blob[i : i + 10_000] for i in range(0, len(blob), 10_000)])  # 600 x 1000 words
    bounded = TokenizeStage(tokenizer="gpt2", device="cpu", cache_mb=4)
    bounded.ensure_setup()
    trim_heap()  # earlier tests' freed pages would hold a cache without it growing resident
    unbounded = TokenizeStage(tokenizer="gpt2", device="cpu", cache_mb=0)
    outs: dict[int, list] = {id(bounded): [], id(unbounded): []}
    for start in range(0, table.num_rows, 5):
        for stage in (bounded, unbounded):
            outs[id(stage)].extend(stage(table.slice(start, 5))["input_ids"].to_pylist())
    assert bounded.backend == unbounded.backend == "gigatoken"
    assert bounded.take_metrics()["pretoken_cache_resets"].value >= 2
    assert bounded.take_metrics() == {}  # each reset counted once
    assert unbounded.take_metrics() == {}  # no limit: never rebuilt
    assert outs[id(bounded)] == outs[id(unbounded)]
    sample = table.take(list(range(0, table.num_rows, 20)))
    ref = TokenizeStage(tokenizer="gpt2", device="cpu", implementation="hf")(sample)
    assert outs[id(bounded)][::20] == ref["input_ids"].to_pylist()


def _wordpiece_json(tmp_path) -> str:
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers.models import WordPiece

    vocab = {"[UNK]": 0, "[SEP]": 1, "hello": 2, "world": 3, "##s": 4, "wor": 5, "##ld": 6}
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "wordpiece.json"
    tok.save(str(path))
    return str(path)


def test_tokenizer_gigatoken_cannot_run_falls_back_to_hf(tmp_path) -> None:
    path = _wordpiece_json(tmp_path)
    stage = TokenizeStage(tokenizer=path, device="cpu", add_eos=False)
    out = stage(docs(["hello worlds", "world hello x"]))
    assert stage.backend == "hf"
    assert "gigatoken" in stage.backend_reason
    assert out["input_ids"].to_pylist() == [[2, 3, 4], [3, 2, 0]]  # "world" + "##s", [UNK]
    with pytest.raises(ConfigError, match="gigatoken"):
        TokenizeStage(tokenizer=path, device="cpu", implementation="gigatoken", add_eos=False)(
            docs(["hello"])
        )


@pytest.mark.parametrize("tokenizer", ["gpt2", "cl100k"])
def test_array_implementation_matches_hf_through_the_stage(tokenizer: str) -> None:
    table = docs(corpus(seed=3, n=60))
    hf = TokenizeStage(tokenizer=tokenizer, device="cpu", implementation="hf")(table)
    arr = TokenizeStage(tokenizer=tokenizer, device="cpu", implementation="array")(table)
    assert hf["input_ids"].to_pylist() == arr["input_ids"].to_pylist()


def test_gpt2_file_pair_and_tokenizer_json_path(tmp_path) -> None:
    from corpusforge.stages.tokenize.source import gpt2_files

    enc, bpe = gpt2_files()
    path = tmp_path / "tokenizer.json"
    load_tokenizer("gpt2").save(str(path))
    table = docs(["some text, with punctuation!"])
    a = TokenizeStage(encoder_json=str(enc), vocab_bpe=str(bpe), device="cpu")(table)
    b = TokenizeStage(tokenizer=str(path), device="cpu")(table)
    assert a["input_ids"].to_pylist() == b["input_ids"].to_pylist()


def test_resources_for_device() -> None:
    assert TokenizeStage.resources_for({"tokenizer": "gpt2", "device": "gpu"}).num_gpus == 1
    cpu = TokenizeStage.resources_for({"tokenizer": "gpt2", "device": "cpu", "batch_size": 64})
    assert cpu.num_gpus == 0 and cpu.batch_size == 64


def test_config_errors_are_clear(tmp_path) -> None:
    with pytest.raises(ConfigError, match="needs `tokenizer`"):
        TokenizeStage(device="cpu")(docs(["x"]))
    with pytest.raises(ConfigError, match="no eos token"):
        TokenizeStage(tokenizer="gpt2", eos_token="<nope>", device="cpu")(docs(["x"]))
    with pytest.raises(ConfigError, match="neither a file"):
        TokenizeStage(tokenizer=str(tmp_path / "missing.json"), device="cpu")(docs(["x"]))
    with pytest.raises(Exception, match="extra"):
        TokenizeStage(tokenizer="gpt2", unknown_param=1)


def test_stages_command_explains_devices_and_fast_path() -> None:
    from typer.testing import CliRunner

    from corpusforge.cli.main import app

    result = CliRunner().invoke(app, ["stages", "tokenize"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "device auto: a GPU per worker when the cluster has GPUs" in text
    assert "gigatoken (byte-level BPE, SentencePiece BPE with byte fallback" in text
    assert "HF tokenizers for the rest (WordPiece, Unigram)" in text
    assert "one of: auto, cpu, gpu; auto:" in text

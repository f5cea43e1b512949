"""The device BPE (gpu_tokenizer) gives HF tokenizers' ids, exactly, on the CPU backend.

The ``cpu`` backend compiles the very thread bodies the GPU runs (gpu_backend), so these tests
check the device logic at realistic sizes; test_tokenize_gpu_sim.py runs the same kernels under
numba's CUDA simulator on small inputs.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pyarrow as pa
import pytest
from tok_textgen import corpus
from tokenizers import Tokenizer

from corpusforge.stages.sinks.megatron_format import token_dtype
from corpusforge.stages.tokenize.device_select import CLUSTER_GPUS_ENV, resolve_device
from corpusforge.stages.tokenize.gpu_tokenizer import DeviceBPETokenizer
from corpusforge.stages.tokenize.pretok import UnsupportedTokenizer
from corpusforge.stages.tokenize.source import load_tokenizer
from corpusforge.stages.tokenize.stage import TokenizeStage
from corpusforge.stages.tokenize.tiktoken_convert import split_pre_tokenizer

TEXTS = corpus(seed=11, n=300)


@cache
def hf(name: str) -> Tokenizer:
    return load_tokenizer(name)


@cache
def device(name: str) -> DeviceBPETokenizer:
    return DeviceBPETokenizer(hf(name).to_str(), backend="cpu")


def per_doc(ids: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    return [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]


def reference(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]


def mismatches(got: list[list[int]], ref: list[list[int]]) -> list[int]:
    return [i for i, (a, b) in enumerate(zip(got, ref, strict=True)) if a != b]


@pytest.mark.parametrize("name", ["gpt2", "cl100k"])
def test_device_bpe_matches_hf_on_generated_text(name: str) -> None:
    ref = reference(hf(name), TEXTS)
    got = per_doc(*device(name).encode_batch(TEXTS))
    bad = mismatches(got, ref)
    assert not bad, f"{len(bad)} documents differ, first {bad[:5]}"
    assert sum(map(len, ref)) > 50_000
    # second pass: every word now comes from the device cache
    assert per_doc(*device(name).encode_batch(TEXTS)) == ref


@pytest.mark.parametrize("name", ["gpt2", "cl100k"])
def test_megatron_layout_with_eos(name: str) -> None:
    tok, texts = device(name), TEXTS[:40]
    eos = hf(name).token_to_id("<|endoftext|>")
    batch = tok.encode_arrow(pa.array(texts), bos=None, eos=eos)
    assert batch.tokens.dtype == token_dtype(tok.vocab_size)
    assert batch.lengths.dtype == np.int32
    ref = [[*ids, eos] for ids in reference(hf(name), texts)]
    assert batch.lengths.tolist() == [len(r) for r in ref]
    assert batch.tokens.astype(np.int64).tolist() == [t for r in ref for t in r]


def test_sliced_arrow_column_with_nulls() -> None:
    arr = pa.array(["skip me", None, "Grüße, world!", "", "x y z"]).slice(1)
    batch = device("gpt2").encode_arrow(arr)
    ref = reference(hf("gpt2"), ["", "Grüße, world!", "", "x y z"])
    assert per_doc(batch.tokens.astype(np.int64), batch.offsets()) == ref


def test_small_cache_resets_between_batches_keep_ids() -> None:
    tok = DeviceBPETokenizer(hf("cl100k").to_str(), backend="cpu", cache_slots=1 << 18)
    tok.cache.used = int(tok.cache.n_slots * 0.6)  # pretend the cache is full
    chunk = TEXTS[:30]
    assert per_doc(*tok.encode_batch(chunk)) == reference(hf("cl100k"), chunk)
    assert tok.cache.resets == 1
    assert per_doc(*tok.encode_batch(chunk)) == reference(hf("cl100k"), chunk)


def test_batch_larger_than_the_cache_is_split_by_documents() -> None:
    tok = DeviceBPETokenizer(
        hf("gpt2").to_str(), backend="cpu", cache_slots=1 << 10, arena_bytes=1 << 16
    )
    chunk = TEXTS[:60]
    assert per_doc(*tok.encode_batch(chunk)) == reference(hf("gpt2"), chunk)
    assert tok.cache.resets >= 1


def split_spec(pattern: str) -> dict:
    spec = json.loads(hf("gpt2").to_str())
    spec["pre_tokenizer"] = split_pre_tokenizer(pattern)
    return spec


@pytest.mark.parametrize(
    "pattern",
    [
        r"\p{N}{1,3}| ?\p{L}+",  # gaps: characters no alternative matches are pieces too
        r"\p{L}+ \p{L}+| ?\p{L}+|\s+|[^\s\p{L}]+",  # word pairs: chunk guesses fail, rerun
        r"\p{N}{2,}?|\s++|(?i:'s|x)|[^\s\p{N}]+|\p{N}",  # lazy, possessive, case-insensitive
        r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    ],
)
def test_split_patterns_match_hf(pattern: str) -> None:
    spec = split_spec(pattern)
    texts = TEXTS[:60]
    ref = reference(Tokenizer.from_str(json.dumps(spec)), texts)
    tok = DeviceBPETokenizer(spec, backend="cpu", chunk_bytes=16)
    assert not mismatches(per_doc(*tok.encode_batch(texts)), ref)
    if "+ \\p{L}" in pattern:
        assert tok.pretok.reruns > 0  # the merge-and-rerun path ran


@pytest.mark.parametrize(
    "pattern, why",
    [
        (r"\p{L}*|\s+", "empty string"),
        (r"\p{Lu}+|\s+", "Lu"),
        (r"(ab)+|\s+", "group"),
        (r"\s+$|\S+", "syntax"),
    ],
)
def test_unsupported_patterns_are_refused(pattern: str, why: str) -> None:
    with pytest.raises(UnsupportedTokenizer, match=why):
        DeviceBPETokenizer(split_spec(pattern), backend="cpu")


def test_device_auto_picks_cpu_without_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CLUSTER_GPUS_ENV, raising=False)
    assert resolve_device("auto") == "cpu"
    assert TokenizeStage.resources_for({"tokenizer": "gpt2"}).num_gpus == 0
    monkeypatch.setenv(CLUSTER_GPUS_ENV, "4")  # an engine that knows its cluster says so
    assert resolve_device("auto") == "gpu"
    assert TokenizeStage.resources_for({"tokenizer": "gpt2"}).num_gpus == 1
    assert resolve_device("cpu") == "cpu"


def test_stage_with_device_implementation_matches_hf_stage() -> None:
    texts = TEXTS[:50]
    table = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
    ours = TokenizeStage(tokenizer="gpt2", device="cpu", implementation="device")
    ref = TokenizeStage(tokenizer="gpt2", device="cpu", implementation="hf")
    ours.ensure_setup()
    ref.ensure_setup()
    assert ours(table)["input_ids"].to_pylist() == ref(table)["input_ids"].to_pylist()

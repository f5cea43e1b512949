"""Token sinks and ``corpusforge tokens`` on object storage (a local moto S3 server).

The shards, their index and the tokenizer copy must land in the bucket, through fsspec, and
be read back from it; nothing may appear in a local ``s3:`` folder of the working directory.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from corpusforge.cli.commands.tokens import tokens_app
from corpusforge.stages.sinks import inspect_shards
from corpusforge.stages.sinks.megatron_format import IndexedShard
from corpusforge.stages.sinks.tokens import MegatronSink, ParquetTokensSink
from corpusforge.stages.tokenize.source import load_tokenizer
from tests.s3_server import s3_in_process, s3_server

TEXTS = [f"shard text {i}: the quick brown fox {'jumps ' * (i % 4)}over" for i in range(30)]


def tokenized(texts: list[str]) -> pa.Table:
    tok = load_tokenizer("gpt2")
    ids = [e.ids for e in tok.encode_batch(texts)]
    return pa.table(
        {
            "id": [f"d{i}" for i in range(len(texts))],
            "input_ids": pa.array(ids, pa.list_(pa.int32())),
        }
    )


def test_megatron_and_parquet_token_shards_on_s3(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with s3_server("tok") as s3, s3_in_process(s3, monkeypatch):
        table = tokenized(TEXTS)
        batches = [table.slice(0, 12), table.slice(12)]
        sink = MegatronSink({"tokenizer": "gpt2"})
        index = sink.write_shard(batches, "s3://tok/out/tokens", "part-00000")
        ParquetTokensSink({"tokenizer": "gpt2"}).write_shard(
            batches, "s3://tok/out/ptokens", "part-00000"
        )
        s3.fs.invalidate_cache()
        assert sorted(p.rsplit("/", 1)[-1] for p in s3.fs.ls("tok/out/tokens")) == [
            "part-00000.bin",
            "part-00000.idx",
            "tokenizer.json",
        ]
        shard = IndexedShard.open("s3://tok/out/tokens/part-00000")
        assert [shard[i].tolist() for i in range(len(shard))] == table["input_ids"].to_pylist()
        assert index.column("count").to_pylist() == [len(x) for x in table["input_ids"].to_pylist()]
        with s3.fs.open("tok/out/ptokens/part-00000.parquet", "rb") as f:
            assert pq.read_table(f)["input_ids"].to_pylist() == table["input_ids"].to_pylist()

        infos = inspect_shards.summarize("s3://tok/out")
        assert [(i.name, i.documents) for i in infos] == [("tokens/part-00000.bin", 30)]
        assert inspect_shards.find_tokenizer("s3://tok/out") in {
            "s3://tok/out/ptokens/tokenizer.json",
            "s3://tok/out/tokens/tokenizer.json",
        }
        decoded = sorted(t for _, _, t in inspect_shards.sample("s3://tok/out", 30))
        assert decoded == sorted(TEXTS)
        res = CliRunner().invoke(tokens_app, ["s3://tok/out", "--sample", "2"])
        assert res.exit_code == 0, res.output
        assert "tokens/part-00000.bin" in res.output and "30" in res.output
    assert not (tmp_path / "s3:").exists()


def test_missing_remote_folder_is_one_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with s3_server("tok") as s3, s3_in_process(s3, monkeypatch):
        res = CliRunner().invoke(tokens_app, ["s3://tok/nothing-here"])
    assert res.exit_code != 0
    assert "s3://tok/nothing-here is not a folder" in res.output


def test_local_shard_still_memory_mapped(tmp_path) -> None:
    table = tokenized(TEXTS[:5])
    MegatronSink({"vocab_size": 50257}).write_shard([table], str(tmp_path), "part-00000")
    shard = IndexedShard.open(tmp_path / "part-00000.bin")
    assert isinstance(shard.tokens, np.memmap)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part-00000.bin", "part-00000.idx"]


@pytest.mark.parametrize("name", ["part-00000"])
def test_failed_shard_leaves_nothing_behind_on_s3(tmp_path, monkeypatch, name: str) -> None:
    with s3_server("tok") as s3, s3_in_process(s3, monkeypatch):
        bad = pa.table({"id": ["a"], "input_ids": pa.array([[70000]], pa.list_(pa.int32()))})
        with pytest.raises(ValueError, match="out of range"):
            MegatronSink({"vocab_size": 50257}).write_shard([bad], "s3://tok/o", name)
        s3.fs.invalidate_cache()
        assert not s3.fs.exists("tok/o") or s3.fs.ls("tok/o") == []

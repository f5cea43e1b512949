"""Megatron .bin/.idx and Parquet token shards: format, index rows, Megatron-Core interop."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpusforge.pipeline.api.sink import SINK_INDEX_SCHEMA
from corpusforge.pipeline.registry import get_sink
from corpusforge.stages.sinks.megatron_format import IndexedShard, token_dtype
from corpusforge.stages.sinks.tokens import MegatronSink


def token_batches(vocab: int, seed: int = 0) -> tuple[list[pa.Table], list[list[int]]]:
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(0, vocab, size=int(rng.integers(0, 50))).tolist() for _ in range(40)]
    seqs[3] = []  # an empty document stays a zero-length sequence
    tables = [
        pa.table(
            {
                "id": [f"doc-{i}" for i in range(start, start + 20)],
                "input_ids": pa.array(seqs[start : start + 20], pa.list_(pa.int32())),
            }
        )
        for start in (0, 20)
    ]
    return tables, seqs


@pytest.mark.parametrize(("vocab", "dtype"), [(50257, np.uint16), (100277, np.int32)])
def test_megatron_shard_roundtrip(tmp_path, vocab: int, dtype: type) -> None:
    assert get_sink("megatron") is MegatronSink
    batches, seqs = token_batches(vocab)
    index = MegatronSink({"vocab_size": vocab}).write_shard(batches, str(tmp_path), "part-00000")
    assert index.schema == SINK_INDEX_SCHEMA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part-00000.bin", "part-00000.idx"]
    shard = IndexedShard.open(tmp_path / "part-00000")
    assert shard.dtype == np.dtype(dtype) == token_dtype(vocab)
    assert len(shard) == len(seqs)
    assert shard.document_indices.tolist() == list(range(len(seqs) + 1))
    assert [shard[i].tolist() for i in range(len(seqs))] == seqs
    rows = index.to_pylist()
    assert [r["doc_id"] for r in rows] == [f"doc-{i}" for i in range(40)]
    flat = np.asarray(shard.tokens)
    for r, seq in zip(rows, seqs, strict=True):  # index rows point at the document's tokens
        assert r["shard"] == "part-00000.bin" and r["count"] == len(seq)
        assert flat[r["offset"] : r["offset"] + r["count"]].tolist() == seq


def test_megatron_rejects_ids_out_of_dtype_range(tmp_path) -> None:
    batches, _ = token_batches(70000)
    with pytest.raises(ValueError, match="out of range"):
        MegatronSink({"vocab_size": 50257}).write_shard(batches, str(tmp_path), "s")
    assert not (tmp_path / "s.idx").exists()


def test_megatron_core_reads_our_shards(tmp_path) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from megatron.core.datasets.indexed_dataset import IndexedDataset
    except ImportError as exc:
        pytest.skip(f"megatron-core not importable ({exc}); pip install -e '.[interop]'")
    for vocab in (50257, 100277):
        batches, seqs = token_batches(vocab, seed=vocab)
        MegatronSink({"vocab_size": vocab}).write_shard(batches, str(tmp_path), f"v{vocab}")
        ds = IndexedDataset(str(tmp_path / f"v{vocab}"), mmap=True)
        assert len(ds) == len(seqs)
        assert [ds[i].tolist() for i in range(len(ds))] == seqs
        assert ds.document_indices.tolist() == list(range(len(seqs) + 1))


def test_parquet_tokens_sink(tmp_path) -> None:
    batches, seqs = token_batches(50257)
    sink = get_sink("parquet_tokens")({"tokenizer": "gpt2"})
    index = sink.write_shard(batches, str(tmp_path), "part-00001")
    table = pq.read_table(tmp_path / "part-00001.parquet")
    assert table["input_ids"].to_pylist() == seqs
    assert index["count"].to_pylist() == [len(s) for s in seqs]
    assert (tmp_path / "tokenizer.json").exists()  # the output decodes on its own

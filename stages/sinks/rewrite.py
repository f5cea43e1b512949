"""Read token shards back and rewrite them without some documents (``corpusforge forget``).

A shard's documents come back as ``id`` + ``input_ids`` rows, in shard order, and go out
again through the sink's own ``write_shard``, so a rewritten shard is exactly what the sink
would have written for the remaining documents. Megatron shards do not store doc ids: the
caller passes them in shard order (from lineage's ``doc_outputs``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api.sink import Sink
from corpusforge.pipeline.io import fsutil
from corpusforge.schemas import Col
from corpusforge.stages.sinks.megatron_format import IndexedShard
from corpusforge.stages.tokenize.stage import INPUT_IDS

MEGATRON_SUFFIXES = (".bin", ".idx")


def shard_files(shard: str) -> list[str]:
    """The files one shard (as doc_outputs names it) consists of."""
    if shard.endswith(".bin"):
        stem = shard.removesuffix(".bin")
        return [stem + s for s in MEGATRON_SUFFIXES]
    return [shard]


def shard_layout(url: str) -> tuple[list[str] | None, np.ndarray]:
    """(doc ids when the shard stores them, tokens per document) of a token shard."""
    if url.endswith(".bin"):
        shard = IndexedShard.open(url)
        return None, np.asarray(shard.lengths, dtype=np.int64)
    table = fsutil.read_parquet(url)
    lengths = pc.fill_null(pc.list_value_length(table.column(INPUT_IDS)), 0)
    return table.column("doc_id").to_pylist(), np.asarray(lengths.to_numpy(), dtype=np.int64)


def read_documents(url: str, doc_ids: list[str] | None = None) -> pa.Table:
    """The documents of a token shard as ``id`` and ``input_ids`` columns, in shard order."""
    if not url.endswith(".bin"):
        table = fsutil.read_parquet(url)
        return pa.table({Col.ID: table.column("doc_id"), INPUT_IDS: table.column(INPUT_IDS)})
    shard = IndexedShard.open(url)
    if doc_ids is None or len(doc_ids) != len(shard):
        raise ValueError(
            f"{url}: {len(shard)} sequences, lineage names "
            f"{'no' if doc_ids is None else len(doc_ids)} documents"
        )
    lengths = np.asarray(shard.lengths, dtype=np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    starts = np.asarray(shard.pointers, dtype=np.int64) // shard.dtype.itemsize
    tokens = np.asarray(shard.tokens)
    if not np.array_equal(starts, offsets[:-1]):  # not back to back: gather each sequence
        tokens = np.concatenate([shard[i] for i in range(len(shard))] or [tokens[:0]])
    values = pa.array(tokens[: offsets[-1]])
    ids = pa.LargeListArray.from_arrays(pa.array(offsets), values)
    return pa.table({Col.ID: pa.array(doc_ids, pa.string()), INPUT_IDS: ids})


def rewrite_shard(
    sink: Sink,
    url: str,
    drop: set[str],
    out_dir: str,
    stem: str,
    doc_ids: list[str] | None = None,
) -> pa.Table:
    """Write shard ``stem`` of ``sink`` under ``out_dir`` holding the documents of ``url``
    except ``drop``; returns the sink's index rows (doc id, shard, offset, count)."""
    table = read_documents(url, doc_ids)
    keep = pc.invert(pc.is_in(table.column(Col.ID), pa.array(sorted(drop), pa.string())))
    return sink.write_shard([table.filter(keep)], out_dir, stem)

"""Token-shard sinks: Megatron ``.bin``/``.idx`` (``megatron``) and Parquet (``parquet_tokens``).

Both read the ``input_ids`` column the ``tokenize`` stage writes and return one index row per
document (doc id, shard file, token offset, token count), so lineage maps any token position of
a shard back to its source document. Every file goes through ``fsutil.atomic_write``, so shards
land where ``output.path`` points (a folder or ``s3://...``), whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpusforge.pipeline.api import StageParams, register_sink
from corpusforge.pipeline.api.sink import SINK_INDEX_SCHEMA, Sink
from corpusforge.pipeline.io import fsutil
from corpusforge.schemas import Col
from corpusforge.stages.sinks import rewrite
from corpusforge.stages.sinks.megatron_format import token_dtype, write_index
from corpusforge.stages.tokenize.stage import INPUT_IDS

TOKENIZER_FILE = "tokenizer.json"


class TokenSinkParams(StageParams):
    vocab_size: int | None = None  # picks the token dtype; None: from `tokenizer`, else int32
    tokenizer: str | None = None  # same spec as the stage; copied next to the shards


def iter_documents(
    batches: Iterable[pa.Table],
) -> Iterator[tuple[pa.Array, np.ndarray, np.ndarray]]:
    """(doc ids, flat ids, per-document lengths) per chunk of the input batches."""
    for batch in batches:
        ids_col = batch.column(INPUT_IDS)
        doc_col = batch.column(Col.ID)
        for ids_chunk, doc_chunk in zip(ids_col.chunks, _rechunk(doc_col, ids_col), strict=True):
            flat = np.asarray(ids_chunk.flatten().to_numpy(zero_copy_only=False))
            lengths = np.asarray(
                pc.fill_null(pc.list_value_length(ids_chunk), 0).to_numpy(zero_copy_only=False),
                dtype=np.int64,
            )
            yield doc_chunk, flat, lengths


def _rechunk(col: pa.ChunkedArray, like: pa.ChunkedArray) -> list[pa.Array]:
    """``col`` split at the chunk boundaries of ``like`` (same length)."""
    out, pos = [], 0
    for chunk in like.chunks:
        out.append(col.slice(pos, len(chunk)).combine_chunks())
        pos += len(chunk)
    return out


class _TokenSink(Sink):
    Params = TokenSinkParams
    required_columns = (Col.ID, INPUT_IDS)

    def _vocab_size(self) -> int | None:
        p: TokenSinkParams = self.params  # type: ignore[assignment]
        if p.vocab_size is None and p.tokenizer is not None:
            from corpusforge.stages.tokenize.source import load_tokenizer

            p.vocab_size = load_tokenizer(p.tokenizer).get_vocab_size(with_added_tokens=True)
        return p.vocab_size

    def _place_tokenizer(self, out_dir: str) -> None:
        """Keep the tokenizer next to the shards, so the output can be decoded on its own."""
        p: TokenSinkParams = self.params  # type: ignore[assignment]
        target = fsutil.join(out_dir, TOKENIZER_FILE)
        if p.tokenizer is None or fsutil.exists(target):
            return
        from corpusforge.stages.tokenize.source import load_tokenizer

        fsutil.atomic_write_bytes(target, load_tokenizer(p.tokenizer).to_str().encode("utf-8"))

    # `forget` and `audit`: read back and rewrite (stages/sinks/rewrite.py)
    def shard_files(self, shard: str) -> list[str]:
        return rewrite.shard_files(shard)

    def shard_lengths(self, url: str) -> tuple[list[str] | None, list[int]]:
        doc_ids, lengths = rewrite.shard_layout(url)
        return doc_ids, lengths.tolist()

    def rewrite_shard(
        self,
        url: str,
        drop: set[str],
        out_dir: str,
        shard_name: str,
        doc_ids: list[str] | None = None,
    ) -> pa.Table:
        return rewrite.rewrite_shard(self, url, drop, out_dir, shard_name, doc_ids)


@register_sink
class MegatronSink(_TokenSink):
    name = "megatron"
    description = "Megatron indexed dataset (.bin + .idx, MMIDIDX), one sequence per document"

    def write_shard(self, batches: Iterable[pa.Table], out_dir: str, shard_name: str) -> pa.Table:
        vocab = self._vocab_size()
        dtype = token_dtype(vocab) if vocab is not None else np.dtype(np.int32)
        doc_ids: list[pa.Array] = []
        all_lengths: list[np.ndarray] = []
        with fsutil.atomic_write(fsutil.join(out_dir, shard_name + ".bin")) as f:
            for docs, flat, lengths in iter_documents(batches):
                if flat.size and (flat.min() < 0 or flat.max() > np.iinfo(dtype).max):
                    raise ValueError(f"token id out of range for {dtype} in shard {shard_name}")
                f.write(flat.astype(dtype, copy=False).tobytes())
                doc_ids.append(docs)
                all_lengths.append(lengths)
        lengths = np.concatenate(all_lengths) if all_lengths else np.zeros(0, np.int64)
        # the index last: a shard with an .idx is complete
        write_index(fsutil.join(out_dir, shard_name + ".idx"), dtype, lengths)
        self._place_tokenizer(out_dir)
        return _index_table(doc_ids, lengths, shard_name + ".bin")


@register_sink
class ParquetTokensSink(_TokenSink):
    name = "parquet_tokens"
    description = "Parquet shard with doc_id and input_ids columns"

    def write_shard(self, batches: Iterable[pa.Table], out_dir: str, shard_name: str) -> pa.Table:
        doc_ids: list[pa.Array] = []
        all_lengths: list[np.ndarray] = []
        schema = pa.schema([("doc_id", pa.string()), (INPUT_IDS, pa.list_(pa.int32()))])
        with (
            fsutil.atomic_write(fsutil.join(out_dir, shard_name + ".parquet")) as f,
            pq.ParquetWriter(f, schema) as writer,
        ):
            for batch in batches:
                ids = batch.column(INPUT_IDS).cast(pa.list_(pa.int32()))
                docs = batch.column(Col.ID).cast(pa.string())
                writer.write_table(pa.table({"doc_id": docs, INPUT_IDS: ids}, schema=schema))
                doc_ids.append(docs.combine_chunks())
                all_lengths.append(pc.fill_null(pc.list_value_length(ids), 0).to_numpy())
        self._place_tokenizer(out_dir)
        lengths = np.concatenate(all_lengths) if all_lengths else np.zeros(0, np.int64)
        return _index_table(doc_ids, lengths, shard_name + ".parquet")


def _index_table(doc_ids: list[pa.Array], lengths: np.ndarray, shard: str) -> pa.Table:
    lengths = lengths.astype(np.int64)
    offsets = np.cumsum(lengths) - lengths
    docs = (
        pa.concat_arrays([d.cast(pa.string()) for d in doc_ids])
        if doc_ids
        else pa.array([], pa.string())
    )
    return pa.table(
        {
            "doc_id": docs,
            "shard": pa.array([shard] * len(lengths), pa.string()),
            "offset": pa.array(offsets, pa.int64()),
            "count": pa.array(lengths, pa.int64()),
        },
        schema=SINK_INDEX_SCHEMA,
    )

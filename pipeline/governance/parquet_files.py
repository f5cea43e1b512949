"""Parquet files rewritten in place of others: same schema, same compression."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.pipeline.io import fsutil


def read_table(url: str, columns: list[str] | None = None) -> pa.Table:
    fs, path = fsutil.get_fs(url)
    with fs.open(path, "rb") as f:
        return pq.read_table(f, columns=columns)


def compression_of(url: str) -> str:
    fs, path = fsutil.get_fs(url)
    with fs.open(path, "rb") as f:
        meta = pq.ParquetFile(f).metadata
    if meta.num_row_groups == 0 or meta.num_columns == 0:
        return "zstd"
    return str(meta.row_group(0).column(0).compression).lower()


def write_like(table: pa.Table, dst: str, like: str) -> tuple[str, int]:
    """Write ``table`` to ``dst`` as ``like`` was written; returns (checksum, size)."""
    compression = compression_of(like)
    with (
        fsutil.atomic_write(dst) as f,
        pq.ParquetWriter(f, table.schema, compression=compression) as w,
    ):
        w.write_table(table)
    return fsutil.file_checksum(dst)

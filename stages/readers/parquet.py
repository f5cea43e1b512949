"""Parquet reader: streams record batches, one row is one record.

Rows go through the same field rules as JSON Lines (text, id, url, metadata). A row whose
text is null or not a string is quarantined with its row index (``source_index``); a file
without the text column quarantines every row (``missing_text``). ``source_line`` is null.

A file can be read in parts: runs of row groups, planned from the footer alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.pipeline.api import register_reader
from corpusforge.pipeline.api.errors import InputError
from corpusforge.pipeline.api.reader import ReaderParams, ReadPart
from corpusforge.stages.readers._common import RecordFields, RowBuffer, StatsReader, open_input


@register_reader
class ParquetReader(StatsReader):
    name = "parquet"
    extensions: ClassVar[tuple[str, ...]] = (".parquet", ".pq")
    Params = ReaderParams

    @classmethod
    def plan_parts(cls, path: str, size: int, target_bytes: int) -> list[tuple[int, int]] | None:
        if target_bytes <= 0 or size <= target_bytes:
            return None
        meta = _footer(path)
        ranges, first, weight = [], 0, 0
        for i in range(meta.num_row_groups):
            rg = meta.row_group(i)
            weight += sum(rg.column(c).total_compressed_size for c in range(rg.num_columns))
            if weight >= target_bytes:
                ranges.append((first, i + 1))
                first, weight = i + 1, 0
        if first < meta.num_row_groups:
            ranges.append((first, meta.num_row_groups))
        return ranges if len(ranges) > 1 else None

    @classmethod
    def measure_part(cls, path: str, start: int, end: int) -> ReadPart:
        meta = _footer(path)
        rows = sum(meta.row_group(i).num_rows for i in range(start, end))
        return ReadPart(start=start, end=end, records=rows)

    def read(self, path: str, part: ReadPart | None = None) -> Iterator[pa.Table]:
        fields = RecordFields(self.params)
        buf = RowBuffer(path, self.params)
        self._reset_stats(rows=0)
        f = open_input(path)
        try:
            try:
                pf = pq.ParquetFile(f)
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(
                    f"cannot read Parquet input {path}: {type(exc).__name__}: {exc}"
                ) from None
            binary_text = self._binary_text(pf.schema_arrow)
            groups = None
            if part is not None:  # numbered as in the whole file
                buf.next_index, groups = part.first_record, range(part.start, part.end)
            for batch in pf.iter_batches(batch_size=buf.batch_rows, row_groups=groups):
                self.stats["rows"] += batch.num_rows
                for rec in batch.to_pylist():
                    if binary_text:
                        self._decode_text(rec)
                    fields.add(buf, rec)
                    if buf.full:
                        table = buf.flush()
                        if table is not None:
                            yield table
        finally:
            f.close()
        table = buf.flush()
        if table is not None:
            yield table

    def _binary_text(self, schema: pa.Schema) -> bool:
        """True when the text column holds bytes (decoded per row, strictly, as UTF-8)."""
        idx = schema.get_field_index(self.params.text_field)
        if idx < 0:
            return False
        t = schema.field(idx).type
        return pa.types.is_binary(t) or pa.types.is_large_binary(t)

    def _decode_text(self, rec: dict) -> None:
        value = rec.get(self.params.text_field)
        if isinstance(value, bytes):
            try:
                rec[self.params.text_field] = value.decode("utf-8")
            except UnicodeDecodeError:
                # Left as bytes: RecordFields quarantines it as non_string_text.
                pass


def _footer(path: str) -> pq.FileMetaData:
    f = open_input(path)
    try:
        return pq.ParquetFile(f).metadata
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read Parquet input {path}: {type(exc).__name__}: {exc}") from None
    finally:
        f.close()

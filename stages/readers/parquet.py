"""Parquet reader: streams record batches, one row is one record.

Rows go through the same field rules as JSON Lines (text, id, url, metadata). A row whose
text is null or not a string is quarantined with its row index (``source_index``); a file
without the text column quarantines every row (``missing_text``). ``source_line`` is null.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.pipeline.api import register_reader
from corpusforge.pipeline.api.errors import InputError
from corpusforge.pipeline.api.reader import ReaderParams
from corpusforge.stages.readers._common import RecordFields, RowBuffer, StatsReader, open_input


@register_reader
class ParquetReader(StatsReader):
    name = "parquet"
    extensions: ClassVar[tuple[str, ...]] = (".parquet", ".pq")
    Params = ReaderParams

    def read(self, path: str) -> Iterator[pa.Table]:
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
            for batch in pf.iter_batches(batch_size=buf.batch_rows):
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

"""Plain-text reader: one document per file (a folder of ``.txt`` files).

The whole file is one record (``source_index`` 0); a UTF-8 byte-order mark is dropped. A file
that is not valid UTF-8 is quarantined (``invalid_utf8``, with the byte offset), an empty or
whitespace-only file is rejected ``empty_text``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pyarrow as pa

from corpusforge.pipeline.api import register_reader
from corpusforge.pipeline.api.reader import ReaderParams
from corpusforge.stages.readers._common import RowBuffer, StatsReader, open_input
from corpusforge.stages.readers.jsonl import compression_for


@register_reader
class TextReader(StatsReader):
    name = "text"
    extensions: ClassVar[tuple[str, ...]] = (".txt", ".txt.gz", ".txt.zst")
    Params = ReaderParams

    def read(self, path: str) -> Iterator[pa.Table]:
        buf = RowBuffer(path, self.params)
        self._reset_stats(bytes=0)
        with open_input(path, compression_for(path)) as f:
            data = f.read()
        self.stats["bytes"] = len(data)
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            buf.quarantine("invalid_utf8", f"invalid UTF-8 at byte {exc.start}", offset=exc.start)
        else:
            buf.add_document(text)
        table = buf.flush()
        if table is not None:
            yield table

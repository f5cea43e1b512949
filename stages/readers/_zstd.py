"""A zstd decompressing stream that notices a cut file.

zstandard's own stream reader returns end-of-file quietly when the last frame is incomplete,
which would make a truncated ``.jsonl.zst`` look complete. This one decompresses frame after
frame and raises ``EOFError`` when the input ends inside a frame, like ``gzip`` does.
"""

from __future__ import annotations

import io
from typing import Any

import zstandard

_CHUNK = 1 << 17
# input fed per decompress call: a frame's end hands back the rest as a copy, so with many
# small frames (the seekable format) smaller pieces keep the copying linear
_PIECE = 1 << 12


class ZstdStream(io.RawIOBase):
    def __init__(self, raw: Any) -> None:
        super().__init__()
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._d = self._dctx.decompressobj()
        self._in_frame = False
        self._out = b""
        self._pending = memoryview(b"")  # input read but not fed yet
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        while not self._out and not self._eof:
            self._fill()
        n = min(len(view), len(self._out))
        view[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _fill(self) -> None:
        if not self._pending:
            self._pending = memoryview(self._raw.read(_CHUNK))
            if not self._pending:
                if self._in_frame:
                    raise EOFError("zstd file ended inside a frame")
                self._eof = True
                return
        chunk: Any = self._pending[:_PIECE]
        self._pending = self._pending[_PIECE:]  # views: no copy
        while chunk:
            self._in_frame = True
            self._out += self._d.decompress(chunk)
            if not self._d.eof:
                return
            chunk = self._d.unused_data  # the next frame starts here
            self._d = self._dctx.decompressobj()
            self._in_frame = False

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()

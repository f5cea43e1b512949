"""A gzip decompressing stream that remembers where each gzip member starts.

A ``.warc.gz`` is a series of gzip members, normally one per record, and the byte offset of a
record's member in the *compressed* file is what crawl indexes (CDX) point at. FastWARC reports
positions in the stream it reads; feeding it this stream gives uncompressed positions, which
:meth:`GzipMemberStream.compressed_offset` maps back to member offsets. Decompressing in Python
(zlib, C speed) also makes a truncated file raise ``EOFError`` (FastWARC's own decompressor
stops silently), so the reader can report the truncation.
"""

from __future__ import annotations

import bisect
import io
import zlib
from typing import Any

_CHUNK = 1 << 16
_MAX_OUT = 1 << 20  # cap on one decompress call's output (bounds memory on zip bombs)


class GzipMemberStream(io.RawIOBase):
    def __init__(self, raw: Any, base: int = 0) -> None:
        """``raw`` is positioned at a member start, ``base`` its offset in the file."""
        super().__init__()
        self._raw = raw
        self._d = zlib.decompressobj(31)
        self._in_member = False  # bytes of the current member have been fed
        self._tail = b""  # compressed input not yet given to the decompressor
        self._tail_pos = base  # compressed offset of _tail[0]
        self._out = b""
        self._upos = 0  # uncompressed bytes handed out so far (+ len(_out) pending)
        self._produced = 0  # uncompressed bytes produced by decompression so far
        self._eof = False
        # (uncompressed start, compressed start) of every member, in order.
        self._u_starts: list[int] = [0]
        self._c_starts: list[int] = [base]

    def readable(self) -> bool:
        return True

    def compressed_offset(self, uncompressed_pos: int) -> int:
        """Compressed offset of the gzip member holding uncompressed byte ``uncompressed_pos``."""
        i = bisect.bisect_right(self._u_starts, uncompressed_pos) - 1
        return self._c_starts[max(i, 0)]

    def starts_member(self, uncompressed_pos: int) -> bool:
        """True when uncompressed byte ``uncompressed_pos`` is the first of a member."""
        i = bisect.bisect_left(self._u_starts, uncompressed_pos)
        return i < len(self._u_starts) and self._u_starts[i] == uncompressed_pos

    # FastWARC asks for tell()/seek(); only positions at or after the current one are
    # reachable (a forward seek decompresses and discards), as with gzip.GzipFile.
    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._upos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self._upos + offset
        if whence not in (io.SEEK_SET, io.SEEK_CUR) or target < self._upos:
            raise io.UnsupportedOperation("only forward seeks in a gzip stream")
        buf = bytearray(min(target - self._upos, _CHUNK) or 1)
        while self._upos < target:
            if not self.readinto(memoryview(buf)[: target - self._upos]):
                break
        return self._upos

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        while not self._out and not self._eof:
            self._fill()
        n = min(len(view), len(self._out))
        view[:n] = self._out[:n]
        self._out = self._out[n:]
        self._upos += n
        return n

    def _fill(self) -> None:
        if not self._tail:
            chunk = self._raw.read(_CHUNK)
            if not chunk:
                if self._in_member:
                    raise EOFError("compressed file ended before the end-of-stream marker")
                self._eof = True
                return
            self._tail = chunk
        if not self._in_member and self._tail.strip(b"\x00") == b"":
            # Zero padding after the last member (some writers pad to a block size).
            self._tail_pos += len(self._tail)
            self._tail = b""
            return
        fed = self._tail
        out = self._d.decompress(fed, _MAX_OUT)
        self._in_member = True
        self._produced += len(out)
        self._out += out
        if self._d.eof:
            unused = self._d.unused_data
            # At the end of a member all its input is consumed; what follows is unused_data.
            member_end = self._tail_pos + len(fed) - len(unused)
            self._tail = unused
            self._tail_pos = member_end
            self._d = zlib.decompressobj(31)
            self._in_member = False
            self._u_starts.append(self._produced)
            self._c_starts.append(member_end)
        else:
            rest = self._d.unconsumed_tail
            self._tail_pos += len(fed) - len(rest)
            self._tail = rest

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()

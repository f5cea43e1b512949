"""Parts of a compressed line-per-record file (zstd JSONL, BGZF JSONL), cut between blocks.

A part is a run of whole blocks (zstd frames, BGZF blocks) ``[start, end)`` of the compressed
file; its decompressed bytes are ``span`` long. A line may run from one block into the next,
so the rule that reads every line exactly once is: a part owns the lines that begin right
after a newline byte of its own decompressed bytes (the first part also owns the file's first
line). Its first ``skip`` bytes finish a line an earlier part owns; its last line may go on
into later blocks, which its reader decompresses as far as that line's newline. A part whose
blocks hold no newline owns no line (``skip`` > ``span``).

:func:`measure_blocks` finds the exact bounds (block headers only, see :mod:`._frames`) and
counts the part's lines and records over the decompressed bytes, as plain parts are counted.
A file that turns out to be one block (one zstd frame, say) cannot be cut: it gives None.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from typing import Any

from corpusforge.pipeline.api.reader import ReadPart
from corpusforge.stages.readers._common import open_input
from corpusforge.stages.readers._frames import BlockFormat, file_size, find_start, walk_to
from corpusforge.stages.readers._line_parts import count_chunks

try:
    from zstandard import ZstdError
except ImportError:  # pragma: no cover - zstandard is a dependency
    ZstdError = OSError  # type: ignore[misc,assignment]

_CHUNK = 1 << 20
_DAMAGE = (ValueError, EOFError, OSError, zlib.error, ZstdError)


class _Window(io.RawIOBase):
    """The bytes ``[start, end)`` of a shared file object (seeks before every read)."""

    def __init__(self, f: Any, start: int, end: int | None = None) -> None:
        super().__init__()
        self._f, self._pos, self._end = f, start, end

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._end is not None:
            n = min(n if n >= 0 else self._end, self._end - self._pos)
        if n == 0:
            return b""
        self._f.seek(self._pos)
        data = self._f.read(n)
        self._pos += len(data)
        return data

    def close(self) -> None:  # the shared file is closed by its owner
        super().close()


def _chunks(stream: Any) -> Iterator[bytes]:
    buffered = io.BufferedReader(stream, buffer_size=_CHUNK)  # whole 1 MB chunks to count
    while chunk := buffered.read(_CHUNK):
        yield chunk


def measure_blocks(path: str, fmt: BlockFormat, start: int, end: int) -> ReadPart | None:
    """The part of the nominal range ``[start, end)``: its blocks and counts (see the module
    doc); None when the file cannot be cut (one block, or damaged data)."""
    f = open_input(path)
    try:
        size = file_size(f)
        lo = 0 if start == 0 else find_start(f, fmt, start, end, size)
        if lo is None:  # no block starts in the range: the part before runs over it
            return ReadPart(start=end, end=end)
        hi = walk_to(f, fmt, lo, end, size)
        if lo == 0 and hi >= size:
            return None
        body = _chunks(fmt.stream(_Window(f, lo, hi)))
        after = _chunks(fmt.stream(_Window(f, hi)))
        return _owned(body, after, lo, hi, at_file_start=lo == 0)
    except _DAMAGE:
        return None  # read whole: its reader reports the damage as a whole-file read would
    finally:
        f.close()


def _owned(
    body: Iterator[bytes], after: Iterator[bytes], lo: int, hi: int, at_file_start: bool
) -> ReadPart:
    state = {"span": 0, "skip": 0 if at_file_start else -1}

    def owned() -> Iterator[bytes]:
        for chunk in body:
            at = state["span"]
            state["span"] += len(chunk)
            if state["skip"] < 0:
                i = chunk.find(b"\n")
                if i < 0:
                    continue
                state["skip"], chunk = at + i + 1, chunk[i + 1 :]
            yield chunk
        if state["skip"] < 0:
            return
        for chunk in after:  # the last owned line, to its newline
            i = chunk.find(b"\n")
            yield chunk if i < 0 else chunk[: i + 1]
            if i >= 0:
                return

    lines, records = count_chunks(owned(), at_file_start)
    span, skip = state["span"], state["skip"]
    return ReadPart(
        start=lo,
        end=hi,
        records=records,
        lines=lines,
        skip=skip if skip >= 0 else span + 1,
        span=span,
    )


def block_lines(f: Any, skip: int, span: int) -> Iterator[bytes]:
    """The lines a part owns, from ``f`` decompressing from the part's first block."""
    if skip > span:
        return
    pos = 0
    while pos < skip:
        got = len(f.read(min(skip - pos, _CHUNK)))
        if not got:
            return
        pos += got
    while pos <= span:
        raw = f.readline()
        if not raw:
            return
        pos += len(raw)
        yield raw

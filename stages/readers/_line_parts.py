"""Byte-range parts of a plain line-per-record file (JSON Lines), cut at line starts.

A nominal range ``[start, end)`` owns the lines that *start* inside it, so ranges planned from
the file size alone never split a line: :func:`measure_lines` moves both bounds to the next
line start and counts the part's lines and records (non-blank lines) over the raw bytes, at
memory speed (``bytes.count`` and one compiled regex, no line is parsed). The counts give the
record index and line number each part starts at, so ids do not depend on the cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from corpusforge.pipeline.api.reader import ReadPart
from corpusforge.stages.readers._common import open_input

_CHUNK = 8 << 20
_BOM = b"\xef\xbb\xbf"
# a newline followed by a whitespace-only line (bytes.strip's whitespace); zero-width
# lookahead, so runs of blank lines are all counted
_BLANK_AFTER_NEWLINE = re.compile(rb"\n(?=[ \t\r\f\v]*\n)")
_SPACE = b" \t\r\f\v\n"


def line_ranges(size: int, target_bytes: int) -> list[tuple[int, int]] | None:
    """Nominal ranges of about ``target_bytes``; None when the file is one range anyway."""
    if target_bytes <= 0 or size <= target_bytes:
        return None
    n = -(-size // target_bytes)
    step = -(-size // n)
    return [(i * step, min(size, (i + 1) * step)) for i in range(n)]


def _line_start_at_or_after(f: Any, pos: int) -> int:
    """The first line start >= ``pos`` (the file size when there is none)."""
    if pos == 0:
        return 0
    f.seek(pos - 1)
    offset = pos - 1
    while chunk := f.read(1 << 16):
        i = chunk.find(b"\n")
        if i >= 0:
            return offset + i + 1
        offset += len(chunk)
    return offset


def measure_lines(path: str, start: int, end: int) -> ReadPart:
    """The part owning the lines that start in ``[start, end)``, with its counts."""
    f = open_input(path)
    try:
        lo = _line_start_at_or_after(f, start)
        hi = _line_start_at_or_after(f, end) if end > lo else lo
        f.seek(lo)
        lines, records = count_chunks(_raw_chunks(f, hi - lo), lo == 0)
    finally:
        f.close()
    return ReadPart(start=lo, end=hi, records=records, lines=lines)


def _raw_chunks(f: Any, remaining: int) -> Iterator[bytes]:
    while remaining > 0:
        chunk = f.read(min(_CHUNK, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def count_chunks(chunks: Iterator[bytes], at_file_start: bool) -> tuple[int, int]:
    """Lines and records (non-blank lines) of the bytes ``chunks`` yield (whole lines; the
    last may lack its newline), counted block by block at memory speed."""
    lines = records = 0
    carry, first = b"", at_file_start
    for chunk in chunks:
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        block, carry = data[:cut], data[cut:]
        if block:
            n, blank = _count(block, first)
            lines, records, first = lines + n, records + n - blank, False
    if carry:
        n, blank = _count(carry, first)
        lines, records = lines + n, records + n - blank
    return lines, records


def _count(block: bytes, at_file_start: bool) -> tuple[int, int]:
    """Lines and blank lines of ``block`` (whole lines; the last may lack its newline)."""
    if not block:
        return 0, 0
    lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
    blank = len(_BLANK_AFTER_NEWLINE.findall(block))
    head_end = block.find(b"\n")
    head = block if head_end < 0 else block[:head_end]
    if at_file_start and head.startswith(_BOM):
        head = head[len(_BOM) :]
    if not head.strip(_SPACE):
        blank += 1  # the block's first line
    if not block.endswith(b"\n"):
        tail = block[block.rfind(b"\n") + 1 :]
        if not tail.strip(_SPACE) and head_end >= 0:
            blank += 1  # a whitespace-only last line without its newline
    return lines, blank


def ranged_lines(f: Any, start: int, end: int) -> Iterator[bytes]:
    """The lines of ``f`` from byte ``start`` (a line start) up to ``end`` (one too)."""
    f.seek(start)
    remaining = end - start
    while remaining > 0:
        raw = f.readline()
        if not raw:
            return
        remaining -= len(raw)
        yield raw

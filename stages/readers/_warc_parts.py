"""Parts of a WARC file: runs of whole records, cut where a record starts.

In a ``.warc.gz`` every record is its own gzip member (the WARC standard's record-at-time
compression), so a part can start at a member whose data begins with ``WARC/``; in a plain
``.warc`` at a ``WARC/1.x`` version line right after the blank line that ends a record. Such
places are found by scanning the slice's bytes (a member is checked by decompressing its
first bytes); the part's end is the first record at or after the slice's end, reached by
reading the part's records from its start, so it is exact. A guessed start is confirmed by
the part before it ending there (see ``units``); a file whose records do not start members
(one gzip stream, several records per member) stops following on and is read whole.

A part owns the records whose offset (``source_offset``: the member's, for ``.gz``) lies in
``[start, end)``; its ``records`` are the rows the reader makes of them (response and
conversion records; the others get no row).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from typing import Any

from corpusforge.pipeline.api.reader import ReadPart
from corpusforge.stages.readers._common import open_input
from corpusforge.stages.readers._frames import file_size
from corpusforge.stages.readers._gzip_members import GzipMemberStream

_SCAN = 1 << 20
_GZ_MAGIC = re.compile(rb"\x1f\x8b\x08")
_PLAIN_START = re.compile(rb"\r\n\r\nWARC/1\.[01]\r\n")


def open_records(path: str, start: int) -> tuple[Any, Callable[[int], int]]:
    """The stream FastWARC reads from byte ``start`` (a record start) and the function that
    turns its positions into record offsets in the file."""
    raw = open_input(path)
    gz = raw.read(2) == b"\x1f\x8b"
    raw.seek(start)
    if gz:
        stream = GzipMemberStream(raw, start)
        return stream, stream.compressed_offset
    return raw, int  # plain: FastWARC's positions are the file's


def _member_is_record(f: Any, pos: int) -> bool:
    f.seek(pos)
    try:
        head = zlib.decompressobj(31).decompress(f.read(1 << 16), 16)
    except zlib.error:
        return False
    return head.startswith(b"WARC/")


def _find_start(f: Any, lo: int, hi: int, gz: bool) -> int | None:
    """The first offset in ``[lo, hi)`` where a record seems to start."""
    pattern, shift = (_GZ_MAGIC, 0) if gz else (_PLAIN_START, 4)
    pos = max(lo - shift, 0)
    while pos < hi:
        f.seek(pos)
        chunk = f.read(min(_SCAN, hi - pos) + 16)
        if not chunk:
            return None
        for m in pattern.finditer(chunk):
            q = pos + m.start() + shift
            if q >= hi:
                return None
            if q >= lo and (not gz or _member_is_record(f, q)):
                return q
        pos += max(len(chunk) - 16, 1)
    return None


def measure_records(path: str, start: int, end: int, doc_types: Any) -> ReadPart | None:
    """The part of the nominal slice ``[start, end)``; None when the file cannot be cut."""
    from fastwarc.warc import ArchiveIterator

    f = open_input(path)
    try:
        gz = f.read(2) == b"\x1f\x8b"
        size = file_size(f)
        lo = 0 if start == 0 else _find_start(f, start, end, gz)
    finally:
        f.close()
    if lo is None:  # no record starts in the slice: the part before runs over it
        return ReadPart(start=end, end=end)
    stream, offset_of = open_records(path, lo)
    records, seen, hi = 0, 0, size
    try:
        for rec in ArchiveIterator(stream, parse_http=False, stream_detect=False):
            offset = offset_of(rec.stream_pos)
            if offset >= end:
                if gz and not stream.starts_member(rec.stream_pos):
                    return None  # several records per member: no clean cut here
                hi = offset
                break
            if (not seen and offset != lo) or rec.reader.consume() < rec.content_length:
                return None
            records += bool(rec.record_type & doc_types)
            seen += 1
    except Exception:  # damage: read whole, where the reader reports it
        return None
    finally:
        stream.close()
    return None if lo == 0 and hi >= size else ReadPart(start=lo, end=hi, records=records)

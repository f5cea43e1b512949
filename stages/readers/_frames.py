"""Where a compressed file can be entered: zstd frames and BGZF blocks, found from headers.

A decompressor can start only where a zstd frame or a gzip member starts. Both formats say
how long such a block is without decompressing it: a zstd frame is a header and a chain of
blocks whose 3-byte headers give their sizes (a skippable frame, as pzstd and the seekable
format write, gives its size at once), and a BGZF block (bgzip) carries its size in the gzip
header's extra field. So :func:`walk_to` steps from a block start to the first one at or
after an offset reading a few bytes per block and decompressing nothing.

:func:`find_start` looks for the first block start inside a byte range: magic bytes whose
block walks cleanly onto another block start (or the end of the file). Compressed data can
contain such bytes by chance, so the planner takes a part's start only where the previous
part, walked from the file's start, ends (exact by induction from offset 0).
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from corpusforge.stages.readers._gzip_members import GzipMemberStream
from corpusforge.stages.readers._zstd import ZstdStream

_SCAN = 1 << 20
_ZSTD_MAGIC = 0xFD2FB528
_MAX_BLOCK = 1 << 17  # a zstd block never holds more than 128 KiB


def zstd_frame_end(f: Any, pos: int) -> int:
    """The end of the zstd frame (or skippable frame) starting at ``pos``; ValueError when
    the bytes there are not one."""
    f.seek(pos)
    head = f.read(14)
    if len(head) < 8:
        raise ValueError("no zstd frame header")
    magic = int.from_bytes(head[:4], "little")
    if magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable: its payload size follows
        return pos + 8 + int.from_bytes(head[4:8], "little")
    fhd = head[4]
    if magic != _ZSTD_MAGIC or fhd & 0x08:  # the descriptor's reserved bit is always 0
        raise ValueError("no zstd frame header")
    single = fhd >> 5 & 1
    p = pos + 5 + (1 - single) + (0, 1, 2, 4)[fhd & 3] + (single, 2, 4, 8)[fhd >> 6]
    last = 0
    while not last:
        f.seek(p)
        raw = f.read(3)
        if len(raw) < 3:
            raise ValueError("zstd frame cut short")
        h = int.from_bytes(raw, "little")
        last, kind, size = h & 1, h >> 1 & 3, h >> 3
        if kind == 3 or size > _MAX_BLOCK:
            raise ValueError("invalid zstd block header")
        p += 3 + (1 if kind == 1 else size)  # an RLE block stores one byte
    return p + 4 * (fhd >> 2 & 1)  # the content checksum


def bgzf_block_end(f: Any, pos: int) -> int:
    """The end of the BGZF block starting at ``pos`` (BSIZE in its extra field)."""
    f.seek(pos)
    head = f.read(12)
    if len(head) < 12 or head[:3] != b"\x1f\x8b\x08" or not head[3] & 0x04:
        raise ValueError("no gzip header with an extra field")
    extra = f.read(int.from_bytes(head[10:12], "little"))
    i = 0
    while i + 4 <= len(extra):
        slen = int.from_bytes(extra[i + 2 : i + 4], "little")
        if extra[i : i + 2] == b"BC" and slen == 2:
            return pos + int.from_bytes(extra[i + 4 : i + 6], "little") + 1
        i += 4 + slen
    raise ValueError("gzip member without a BGZF size")


@dataclass(frozen=True)
class BlockFormat:
    name: str
    magic: re.Pattern[bytes]
    needles: tuple[tuple[bytes, int], ...]  # literal bytes of the magics, and their offset
    block_end: Callable[[Any, int], int]
    stream: Callable[[Any], Any]  # a decompressing raw stream over a file object


ZSTD = BlockFormat(
    "zstd frames",
    re.compile(rb"\x28\xb5\x2f\xfd|[\x50-\x5f]\x2a\x4d\x18"),
    ((b"\x28\xb5\x2f\xfd", 0), (b"\x2a\x4d\x18", 1)),
    zstd_frame_end,
    ZstdStream,
)
BGZF = BlockFormat(
    "BGZF blocks",
    re.compile(rb"\x1f\x8b\x08[\x04-\x1f]"),
    ((b"\x1f\x8b\x08", 0),),
    bgzf_block_end,
    GzipMemberStream,
)


BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def bgzf_block(chunk: bytes, level: int = 6) -> bytes:
    """``chunk`` (at most 64 KiB) as one BGZF block, as bgzip writes it (for tests and
    benchmarks; the file ends with :data:`BGZF_EOF`)."""
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = comp.compress(chunk) + comp.flush()
    head = b"\x1f\x8b\x08\x04\0\0\0\0\0\xff" + struct.pack("<HBBHH", 6, 66, 67, 2, 0)
    head = head[:-2] + struct.pack("<H", len(head) + len(body) + 8 - 1)
    return head + body + struct.pack("<II", zlib.crc32(chunk), len(chunk))


def file_size(f: Any) -> int:
    return int(f.seek(0, 2))


def walk_to(f: Any, fmt: BlockFormat, pos: int, end: int, size: int) -> int:
    """The first block start at or after ``end``, stepping from the block start ``pos``."""
    while pos < end:
        pos = fmt.block_end(f, pos)
        if pos > size:
            raise ValueError(f"{fmt.name}: a block runs past the end of the file")
    return pos


def _starts_block(f: Any, fmt: BlockFormat, pos: int, size: int) -> bool:
    try:
        after = fmt.block_end(f, pos)
    except ValueError:
        return False
    if after == size:
        return True
    if after > size:
        return False
    f.seek(after)
    return fmt.magic.match(f.read(4)) is not None


def find_start(f: Any, fmt: BlockFormat, lo: int, hi: int, size: int) -> int | None:
    """The first offset in ``[lo, hi)`` where a block seems to start (see the module doc)."""
    pos = lo
    while pos < hi:
        f.seek(pos)
        chunk = f.read(min(_SCAN, hi - pos) + 3)  # a magic may straddle the chunk's end
        if not chunk:
            return None
        for i in _candidates(chunk, fmt):
            q = pos + i
            if q >= hi:
                return None
            if _starts_block(f, fmt, q, size):
                return q
        pos += max(len(chunk) - 3, 1)
    return None


def _candidates(chunk: bytes, fmt: BlockFormat) -> list[int]:
    """Offsets in ``chunk`` where a magic matches (``bytes.find``: faster than a regex whose
    alternatives begin with a byte class)."""
    found = []
    for needle, back in fmt.needles:
        i = chunk.find(needle, back)
        while i >= 0:
            if fmt.magic.match(chunk, i - back):
                found.append(i - back)
            i = chunk.find(needle, i + 1)
    return sorted(found)


def is_bgzf(f: Any) -> bool:
    """True when the file starts with a BGZF block (bgzip), whose size its header gives."""
    try:
        bgzf_block_end(f, 0)
    except ValueError:
        return False
    return True

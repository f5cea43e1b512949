"""JSON Lines reader: plain, gzip or zstd, streamed line by line.

One JSON object per line. Blank (whitespace-only) lines are not records: they are skipped and
counted in ``stats["blank_lines"]``, but still count for ``source_line`` (the physical line
number, 1-based). Every other line is one record and gets the next ``source_index``:

- a line that is not valid UTF-8, not valid JSON, not an object, or whose text field is
  missing or not a string is *quarantined* (reasons ``invalid_utf8``, ``invalid_json``,
  ``not_an_object``, ``missing_text``, ``non_string_text``);
- a file whose first line is not text at all (binary data, a compressed stream under a plain
  name) is unreadable as a whole (``InputError``; the engine quarantines it as one unit);
- a compressed stream that ends early (truncated download) keeps every line read before the
  break and adds ONE quarantined row ``truncated_file`` naming the last good line.

Files can be read in parts: plain ones by byte ranges cut at line starts, measured by a
counting pass over the raw bytes (:mod:`._line_parts`); zstd ones with several frames (pzstd,
the seekable format, concatenated streams) and BGZF gzip (bgzip) by runs of frames / blocks,
found from their headers (:mod:`._block_parts`). A single-frame zstd file and a gzip file
that is not BGZF (plain ``gzip``, whose member sizes only decompressing reveals) are one unit.
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Iterator
from typing import Any, ClassVar

import orjson
import pyarrow as pa

from corpusforge.pipeline.api import register_reader
from corpusforge.pipeline.api.errors import InputError
from corpusforge.pipeline.api.reader import ReaderParams, ReadPart
from corpusforge.stages.readers._block_parts import block_lines, measure_blocks
from corpusforge.stages.readers._common import (
    RecordFields,
    RowBuffer,
    StatsReader,
    display_name,
    open_input,
)
from corpusforge.stages.readers._frames import BGZF, ZSTD, is_bgzf
from corpusforge.stages.readers._line_parts import line_ranges, measure_lines, ranged_lines
from corpusforge.stages.readers._zstd import ZstdStream

try:  # zstandard raises its own error type on a corrupt or truncated frame
    from zstandard import ZstdError
except ImportError:  # pragma: no cover - zstandard is a dependency
    ZstdError = OSError  # type: ignore[misc,assignment]

_BOM = b"\xef\xbb\xbf"

# Errors of a decompressor in the middle of a file: the data is cut or damaged from here on.
_STREAM_ERRORS = (EOFError, zlib.error, ZstdError)


def compression_for(path: str) -> str | None:
    """fsspec compression name from the file name (.gz, .zst), None for plain files."""
    lower = path.lower()
    if lower.endswith(".gz"):
        return "gzip"
    if lower.endswith((".zst", ".zstd")):
        return "zstd"
    return None


def binary_start(raw: bytes) -> str | None:
    """What a first line that is not text at all looks like (None for text, even with a few
    bad bytes: those lines are quarantined one by one)."""
    head = raw[:4096]
    try:
        head.decode("utf-8")
        return None
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3 and len(raw) > len(head):
            return None  # the sample cuts a character
    if head.startswith(b"\x1f\x8b") or head.startswith(b"\x28\xb5\x2f\xfd"):
        return "compressed data: is the file name's extension missing?"
    bad = head.decode("utf-8", "replace").count("\ufffd")
    if b"\x00" in head or bad * 20 > len(head):
        return "binary data"
    return None


_BLOCKS = {"zstd": ZSTD, "gzip": BGZF}


def _bgzf(path: str) -> bool:
    f = open_input(path)
    try:
        return is_bgzf(f)
    finally:
        f.close()


def _open_lines(path: str, part: ReadPart | None) -> tuple[Any, Iterator[bytes]]:
    """The open file and its lines: all of them, or those ``part`` owns."""
    compression = compression_for(path)
    if part is not None and compression is not None:
        raw = open_input(path)
        raw.seek(part.start)
        f = io.BufferedReader(_BLOCKS[compression].stream(raw), buffer_size=1 << 20)
        return f, block_lines(f, part.skip, part.span)
    if compression == "zstd":
        # Our own frame-aware stream: zstandard's reader hides a cut last frame.
        f = io.BufferedReader(ZstdStream(open_input(path)), buffer_size=1 << 20)
    else:
        f = open_input(path, compression)
    return f, iter(f) if part is None else ranged_lines(f, part.start, part.end)


@register_reader
class JsonlReader(StatsReader):
    name = "jsonl"
    extensions: ClassVar[tuple[str, ...]] = (
        ".jsonl",
        ".json",
        ".ndjson",
        ".jsonl.gz",
        ".json.gz",
        ".ndjson.gz",
        ".jsonl.zst",
        ".json.zst",
        ".ndjson.zst",
        ".jsonl.zstd",
        ".json.zstd",
        ".ndjson.zstd",
    )
    Params = ReaderParams

    @classmethod
    def plan_parts(cls, path: str, size: int, target_bytes: int) -> list[tuple[int, int]] | None:
        compression = compression_for(path)
        if compression == "gzip" and not _bgzf(path):
            return None
        return line_ranges(size, target_bytes)

    @classmethod
    def measure_part(cls, path: str, start: int, end: int) -> ReadPart | None:
        fmt = _BLOCKS.get(compression_for(path) or "")
        return (
            measure_lines(path, start, end)
            if fmt is None
            else measure_blocks(path, fmt, start, end)
        )

    @classmethod
    def whole_file_reason(cls, path: str) -> str | None:
        compression = compression_for(path)
        if compression == "zstd":
            return (
                "one zstd frame (or damaged data); compress with pzstd or the seekable zstd "
                "format to read it in parts"
            )
        if compression == "gzip":
            return "gzip without BGZF blocks; compress with bgzip to read it in parts"
        return None

    def read(self, path: str, part: ReadPart | None = None) -> Iterator[pa.Table]:
        fields = RecordFields(self.params)
        buf = RowBuffer(path, self.params)
        self._reset_stats(lines=0, blank_lines=0)
        lineno = 0
        f, lines = _open_lines(path, part)
        first_line = 1
        if part is not None:  # numbered as in the whole file
            buf.next_index, first_line = part.first_record, part.first_line
            lineno = first_line - 1
        try:
            while True:
                try:
                    raw = next(lines)
                except StopIteration:
                    break
                except _STREAM_ERRORS as exc:
                    if lineno == 0 and not isinstance(exc, EOFError):
                        # Not a compressed stream at all (wrong extension, garbage).
                        raise InputError(
                            f"cannot decompress input {path}: {type(exc).__name__}: {exc}"
                        ) from None
                    buf.quarantine(
                        "truncated_file",
                        f"compressed stream ends early ({type(exc).__name__}); "
                        f"last good line {lineno}",
                        line=lineno + 1,
                    )
                    break
                except OSError as exc:  # gzip.BadGzipFile and friends on the first read
                    raise InputError(
                        f"cannot read input {path}: {type(exc).__name__}: {exc}"
                    ) from None
                lineno += 1
                if lineno == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM) :]
                if lineno == 1 and (what := binary_start(raw)):
                    raise InputError(f"{display_name(path)} is not UTF-8 text ({what})")
                if not raw.strip():
                    self.stats["blank_lines"] += 1
                    continue
                self._parse_line(buf, fields, raw, lineno)
                if buf.full:
                    table = buf.flush()
                    if table is not None:
                        yield table
        finally:
            f.close()
        self.stats["lines"] = lineno - first_line + 1
        table = buf.flush()
        if table is not None:
            yield table

    @staticmethod
    def _parse_line(buf: RowBuffer, fields: RecordFields, raw: bytes, lineno: int) -> None:
        try:
            # orjson parses (and validates UTF-8) about 6x faster than json; it is stricter
            # (no NaN, no ints over 64 bits, no lone surrogates), so a line it refuses is
            # looked at again with the standard library, which also gives the messages.
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            fields.add(buf, rec, line=lineno, from_orjson=True)
            return
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            buf.quarantine(
                "invalid_utf8", f"invalid UTF-8 at byte {exc.start + 1} of the line", line=lineno
            )
            return
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            msg = exc.msg.removesuffix(" at")
            buf.quarantine(
                "invalid_json", f"invalid JSON ({msg} at column {exc.colno})", line=lineno
            )
            return
        except RecursionError:
            buf.quarantine("invalid_json", "invalid JSON (nested too deeply)", line=lineno)
            return
        fields.add(buf, rec, line=lineno)

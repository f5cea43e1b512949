"""WARC / WET reader (FastWARC): one document per HTTP response or WET conversion record.

- ``response`` records holding HTML are decoded (HTTP charset, ``<meta charset>``, UTF-8,
  then a guess) and their main text extracted with trafilatura: ``extraction`` is ``fast``
  (no fallback extractors, precision settings), ``balanced`` (default:
  ``trafilatura.extract``'s own defaults) or ``precise`` (defaults + ``favor_precision``);
  ``trafilatura`` sets its knobs directly. A page whose extraction is empty is rejected
  ``no_text_extracted`` (detail: the mode); a non-HTML response (image, PDF, or a body that
  is not HTML under a text/html header) is rejected ``unsupported_content_type`` (detail:
  the media type); a non-2xx HTTP status is rejected ``http_status`` (detail: the code).
- ``conversion`` records (WET) are plain UTF-8 text, taken as is.
- ``warcinfo``, ``request``, ``metadata``, ``resource``, ``revisit`` ... records are NOT
  documents: they get no row and no ``source_index``; they are counted in
  ``stats["skipped"]`` (and ``stats["skipped_<type>"]``).

Columns: ``url`` (WARC-Target-URI), ``fetch_date`` (WARC-Date as written), ``content_type``
(the HTTP Content-Type; for WET the record's Content-Type), ``source_offset`` (the record's
byte offset in the file; for ``.gz`` the offset of its gzip member, as in CDX indexes), and
``metadata`` with ``warc_record_id`` (plus ``language`` from WET's identified-language header).
``id_field``, when set, names a WARC header to use as the id (e.g. ``WARC-Record-ID``).

A truncated or corrupt file keeps the records before the damage and adds ONE quarantined row
(``truncated_file`` or ``invalid_warc``) naming the file and the last good record's offset.

A file can be read in parts: runs of whole records (``.warc.gz``: of record members), found
by a scan of each slice and confirmed by reading (:mod:`._warc_parts`); ids, offsets and rows
are those of a whole-file read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import Field, field_validator

from corpusforge.pipeline.api import register_reader
from corpusforge.pipeline.api.errors import require_extra
from corpusforge.pipeline.api.reader import ReaderParams, ReadPart
from corpusforge.stages.readers._common import RowBuffer, StatsReader
from corpusforge.stages.readers._http import decode_html, looks_like_html, parse_http_response
from corpusforge.stages.readers._line_parts import line_ranges
from corpusforge.stages.readers._warc_parts import measure_records, open_records

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xhtml"})
try:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    _DOC_TYPES = WarcRecordType.response | WarcRecordType.conversion
except ImportError:  # the `warc` extra: WarcReader() names it in a one-line error
    pass


Extraction = Literal["fast", "balanced", "precise"]
# trafilatura.extract arguments per mode; an empty dict is trafilatura's own defaults.
EXTRACTION_MODES: dict[str, dict[str, Any]] = {
    "fast": {"fast": True, "favor_precision": True},  # no fallback extractors
    "balanced": {},
    "precise": {"favor_precision": True},
}
# The trafilatura.extract knobs a config may set (output format and metadata stay ours).
TRAFILATURA_KNOBS = frozenset(
    {
        "fast",
        "favor_precision",
        "favor_recall",
        "include_comments",
        "include_tables",
        "include_formatting",
        "include_links",
        "include_images",
        "deduplicate",
        "target_language",
        "prune_xpath",
    }
)


class WarcParams(ReaderParams):
    extraction: Extraction = "balanced"
    """fast: trafilatura without fallback extractors, precision settings; balanced:
    ``trafilatura.extract`` defaults; precise: defaults with ``favor_precision``."""
    trafilatura: dict[str, Any] = Field(default_factory=dict)
    """trafilatura.extract keyword arguments over the mode's, e.g. {favor_recall: true}."""

    @field_validator("trafilatura")
    @classmethod
    def _known_knobs(cls, v: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(v) - TRAFILATURA_KNOBS)
        if unknown:
            raise ValueError(
                f"unknown trafilatura options {unknown}; known: {sorted(TRAFILATURA_KNOBS)}"
            )
        return v

    def extract_kwargs(self) -> dict[str, Any]:
        return {**EXTRACTION_MODES[self.extraction], **self.trafilatura}


def extract_main_text(html: str, params: WarcParams) -> str | None:
    """Main text of an HTML page with trafilatura (offline), per the extraction mode."""
    import trafilatura  # heavy import, only where WARCs are read

    return trafilatura.extract(html, with_metadata=False, **params.extract_kwargs())


@register_reader
class WarcReader(StatsReader):
    name = "warc"
    extensions: ClassVar[tuple[str, ...]] = (".warc", ".warc.gz", ".wet", ".wet.gz", ".warc.wet.gz")
    Params = WarcParams

    def __init__(self, params: WarcParams | dict[str, Any] | None = None) -> None:
        require_extra(("fastwarc", "trafilatura"), "warc", "the warc reader")
        super().__init__(params)

    @classmethod
    def plan_parts(cls, path: str, size: int, target_bytes: int) -> list[tuple[int, int]] | None:
        return line_ranges(size, target_bytes)  # nominal slices; records found when measured

    @classmethod
    def measure_part(cls, path: str, start: int, end: int) -> ReadPart | None:
        return measure_records(path, start, end, _DOC_TYPES)

    @classmethod
    def whole_file_reason(cls, path: str) -> str | None:
        if path.lower().endswith(".gz"):
            return "its records do not each start a gzip member (one gzip stream?), or damage"
        return "its records could not be told apart from a scan, or damage"

    def read(self, path: str, part: ReadPart | None = None) -> Iterator[pa.Table]:
        params: WarcParams = self.params  # type: ignore[assignment]
        buf = RowBuffer(path, params)
        self._reset_stats(records=0, skipped=0)
        stream, offset_of = open_records(path, part.start if part is not None else 0)
        if part is not None:  # numbered as in the whole file
            buf.next_index = part.first_record
        end = part.end if part is not None else None
        last_good: int | None = None
        try:
            records = iter(ArchiveIterator(stream, parse_http=False, stream_detect=False))
            while True:
                try:
                    rec = next(records)
                except StopIteration:
                    break
                except Exception as exc:  # EOFError, zlib.error, OSError("Invalid WARC header")
                    reason = "truncated_file" if isinstance(exc, EOFError) else "invalid_warc"
                    self._damaged(buf, reason, exc, last_good)
                    break
                offset = offset_of(rec.stream_pos)
                if end is not None and offset >= end:
                    break  # the next part's first record
                self.stats["records"] += 1
                rtype = rec.record_type
                is_doc = bool(rtype & _DOC_TYPES)
                try:
                    # Skipped records are consumed too, so that a cut inside one is noticed.
                    block = rec.reader.read() if is_doc else b""
                    n_read = len(block) if is_doc else rec.reader.consume()
                except Exception as exc:
                    reason = "truncated_file" if isinstance(exc, EOFError) else "invalid_warc"
                    self._damaged(buf, reason, exc, last_good)
                    break
                if n_read < rec.content_length:
                    # FastWARC stops quietly at the end of a cut plain .warc.
                    self._damaged(buf, "truncated_file", None, last_good)
                    break
                last_good = offset
                if not is_doc:
                    self.stats["skipped"] += 1
                    key = f"skipped_{rtype}"
                    self.stats[key] = self.stats.get(key, 0) + 1
                    continue
                self._add_record(buf, rec, block, offset, params)
                if buf.full:
                    table = buf.flush()
                    if table is not None:
                        yield table
        finally:
            stream.close()
        table = buf.flush()
        if table is not None:
            yield table

    @staticmethod
    def _damaged(buf: RowBuffer, reason: str, exc: BaseException | None, last: int | None) -> None:
        cause = f" ({type(exc).__name__})" if exc is not None else ""
        after = f"last good record at offset {last}" if last is not None else "no good record"
        what = "file ends early" if reason == "truncated_file" else "unreadable WARC data"
        buf.quarantine(reason, f"{what}{cause}; {after}")

    def _add_record(
        self, buf: RowBuffer, rec: Any, block: bytes, offset: int, params: WarcParams
    ) -> None:
        headers = rec.headers
        url = headers.get("WARC-Target-URI") or None
        if url and url.startswith("<") and url.endswith(">"):  # WARC/0.x style
            url = url[1:-1]
        meta: dict[str, Any] = {"warc_record_id": headers.get("WARC-Record-ID")}
        lang = headers.get("WARC-Identified-Content-Language")
        if lang:
            meta["language"] = lang
        if headers.get("WARC-Truncated"):
            meta["warc_truncated"] = headers.get("WARC-Truncated")
        common: dict[str, Any] = {
            "offset": offset,
            "url": url,
            "fetch_date": headers.get("WARC-Date") or None,
            "metadata": json.dumps(meta, ensure_ascii=False),
        }
        if params.id_field:
            common["doc_id"] = headers.get(params.id_field) or None

        if rec.record_type == WarcRecordType.conversion:
            common["content_type"] = headers.get("Content-Type") or None
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError as exc:
                buf.quarantine(
                    "invalid_utf8",
                    f"invalid UTF-8 at byte {exc.start} of the record",
                    offset=offset,
                )
                return
            buf.add_document(text, **common)
            return

        warc_ctype = (headers.get("Content-Type") or "").lower()
        if warc_ctype.startswith("application/http"):
            http = parse_http_response(block)
            ctype = http.headers.get("content-type") or None
            media, charset, body, status = http.media_type, http.charset, http.body, http.status
        else:  # a response record of a non-HTTP scheme: the block is the payload
            ctype = headers.get("Content-Type") or None
            media = warc_ctype.split(";", 1)[0].strip() or None
            charset, body, status = None, block, None
        common["content_type"] = ctype
        if status is not None and not 200 <= status < 300:
            buf.reject("http_status", str(status), **common)
            return
        if media is None:
            identified = (headers.get("WARC-Identified-Payload-Type") or "").lower()
            media = identified or ("text/html" if looks_like_html(body) else None)
        if media not in _HTML_TYPES:
            buf.reject("unsupported_content_type", media or "unknown", **common)
            return
        try:
            text = extract_main_text(decode_html(body, charset), params)
        except Exception as exc:  # a parser crash on one page must not end the file
            buf.reject("extraction_error", type(exc).__name__, **common)
            return
        if not text or not text.strip():
            # HTML with nothing trafilatura calls main text, apart from a body that only
            # claimed to be HTML (JSON, a PDF, an image served as text/html)
            if body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
                buf.reject("no_text_extracted", f"extraction={params.extraction}", **common)
            else:
                buf.reject("unsupported_content_type", f"{media} (body is not HTML)", **common)
            return
        buf.add_document(text, **common)

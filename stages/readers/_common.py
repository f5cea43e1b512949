"""Shared machinery of the readers: turning records into document rows, batching, errors.

Every reader funnels its records through :class:`RowBuffer`, so the rules that are the same
for every format live in one place: where the id comes from, which fields go to ``metadata``,
what counts as empty text, how a too-large document is rejected, and how a quarantined row
looks. Error messages name the file (base name) and the line or offset, never the content.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from typing import Any

import fsspec
import orjson
import pyarrow as pa

from corpusforge.pipeline.api.errors import InputError
from corpusforge.pipeline.api.identity import derive_doc_id
from corpusforge.pipeline.api.reader import Reader, ReaderParams, conform_documents
from corpusforge.schemas import FATE_QUARANTINED, FATE_REJECTED, Col

READ_STAGE = "read"

# The columns a reader fills; the engine-owned fate columns are only set on rejected or
# quarantined rows (null means "live").
_COLUMNS = (
    Col.ID,
    Col.TEXT,
    Col.SOURCE_PATH,
    Col.SOURCE_INDEX,
    Col.SOURCE_LINE,
    Col.SOURCE_OFFSET,
    Col.URL,
    Col.FETCH_DATE,
    Col.CONTENT_TYPE,
    Col.METADATA,
    Col.FATE,
    Col.STAGE,
    Col.REASON,
    Col.DETAIL,
    Col.ERROR,
)


def display_name(path: str) -> str:
    """The file's base name for messages (a URL's last segment; no bucket or directories)."""
    return posixpath.basename(path.rstrip("/").split("://", 1)[-1]) or path


def open_input(path: str, compression: str | None = None) -> Any:
    """Open ``path`` (local or any fsspec URL) for binary reading, or raise InputError."""
    try:
        return fsspec.open(path, "rb", compression=compression).open()
    except FileNotFoundError:
        raise InputError(
            f"input file not found: {path}", hint="check the input path or glob"
        ) from None
    except IsADirectoryError:
        raise InputError(
            f"input is a directory, not a file: {path}", hint="point inputs at files or a glob"
        ) from None
    except (OSError, ValueError) as exc:
        # The message of an OS error names the path and the cause, never file content.
        raise InputError(f"cannot open input {path}: {type(exc).__name__}: {exc}") from None


def metadata_json(fields: dict[str, Any], plain_json: bool = False) -> str | None:
    """The record's other fields as a JSON object string (null when there are none).

    ``plain_json``: the values came from orjson (JSON types only, no lone surrogates, no
    NaN or big integers), so orjson can write them, several times faster than json.
    """
    if not fields:
        return None
    if plain_json:
        try:
            return orjson.dumps(fields).decode("utf-8")
        except orjson.JSONEncodeError:  # nested deeper than orjson writes: json can
            pass
    try:
        out = json.dumps(fields, ensure_ascii=False, default=str)
        out.encode("utf-8")  # lone surrogates from "\ud800"-style escapes cannot go to Arrow
        return out
    except UnicodeEncodeError:
        return json.dumps(fields, ensure_ascii=True, default=str)


# Columns set on almost every row are kept as lists; the rest (fates, errors, WARC headers) as
# {row: value}, so that a live record costs a few list appends and no per-column loop.
_DENSE = (Col.ID, Col.TEXT, Col.SOURCE_INDEX, Col.SOURCE_LINE, Col.URL, Col.METADATA)
_SPARSE = tuple(c for c in _COLUMNS if c not in _DENSE and c != Col.SOURCE_PATH)


class RowBuffer:
    """Accumulates rows of one input file and yields them as DOCUMENT_SCHEMA tables."""

    def __init__(self, path: str, params: ReaderParams) -> None:
        self.path = path
        self.name = display_name(path)
        self.params = params
        self.batch_rows = max(1, params.batch_rows)
        self.next_index = 0  # source_index of the next record of the file
        # derive_doc_id's path hash, computed once per file (the index part is formatted here)
        self._id_prefix = derive_doc_id(path, 0).rsplit("-", 1)[0]
        # a document of at most this many characters cannot exceed max_doc_bytes (4 B/char)
        self._safe_chars = params.max_doc_bytes // 4
        self._clear()

    def _clear(self) -> None:
        self._dense: dict[str, list[Any]] = {c: [] for c in _DENSE}
        self._sparse: dict[str, dict[int, Any]] = {c: {} for c in _SPARSE}
        d = self._dense
        self._ids, self._texts, self._index = d[Col.ID], d[Col.TEXT], d[Col.SOURCE_INDEX]
        self._lines, self._urls, self._meta = d[Col.SOURCE_LINE], d[Col.URL], d[Col.METADATA]

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def full(self) -> bool:
        return len(self._ids) >= self.batch_rows

    def _doc_id(self, index: int) -> str:
        return f"{self._id_prefix}-{index:06d}"

    def _append(self, index: int, doc_id: str | None, line: int | None, **rare: Any) -> int:
        row = len(self._ids)
        self._ids.append(doc_id if doc_id is not None else self._doc_id(index))
        self._index.append(index)
        self._lines.append(line)
        for col, value in rare.items():
            if value is not None:
                self._sparse[col][row] = value
        return row

    def add_document(
        self,
        text: str,
        *,
        doc_id: str | None = None,
        line: int | None = None,
        offset: int | None = None,
        url: str | None = None,
        fetch_date: str | None = None,
        content_type: str | None = None,
        metadata: str | None = None,
        valid_unicode: bool = False,
    ) -> None:
        """A record with readable text: live, or rejected at read (empty, too large).

        ``valid_unicode``: the caller knows ``text`` holds no lone surrogate (orjson refuses
        them), which spares encoding every document just to check it.
        """
        index = self.next_index
        self.next_index += 1
        n_bytes = None
        if not valid_unicode or len(text) > self._safe_chars:
            try:
                n_bytes = len(text.encode("utf-8"))
            except UnicodeEncodeError as exc:
                # A lone surrogate (a JSON "\ud800" escape) is not valid Unicode text.
                self._quarantine_at(
                    index,
                    "invalid_utf8",
                    f"invalid Unicode (lone surrogate) at char {exc.start}",
                    line,
                )
                return
        rare: dict[str, Any] = {}
        if not text or text.isspace():  # same as `not text.strip()`, without the copy
            rare = {Col.FATE: FATE_REJECTED, Col.STAGE: READ_STAGE, Col.REASON: "empty_text"}
        elif n_bytes is not None and n_bytes > self.params.max_doc_bytes:
            rare = {
                Col.FATE: FATE_REJECTED,
                Col.STAGE: READ_STAGE,
                Col.REASON: "doc_too_large",
                Col.DETAIL: str(n_bytes),
            }
        self._append(
            index,
            doc_id,
            line,
            **{Col.SOURCE_OFFSET: offset, Col.FETCH_DATE: fetch_date},
            **{Col.CONTENT_TYPE: content_type},
            **rare,
        )
        self._texts.append(text)
        self._urls.append(url)
        self._meta.append(metadata)

    def reject(
        self,
        reason: str,
        detail: str | None = None,
        *,
        doc_id: str | None = None,
        line: int | None = None,
        offset: int | None = None,
        url: str | None = None,
        fetch_date: str | None = None,
        content_type: str | None = None,
        metadata: str | None = None,
    ) -> None:
        """A record that is readable but is not a document (e.g. a non-HTML response)."""
        index = self.next_index
        self.next_index += 1
        self._append(
            index,
            doc_id,
            line,
            **{Col.SOURCE_OFFSET: offset, Col.FETCH_DATE: fetch_date},
            **{Col.CONTENT_TYPE: content_type, Col.FATE: FATE_REJECTED},
            **{Col.STAGE: READ_STAGE, Col.REASON: reason, Col.DETAIL: detail},
        )
        self._texts.append(None)
        self._urls.append(url)
        self._meta.append(metadata)

    def quarantine(
        self,
        reason: str,
        message: str,
        *,
        line: int | None = None,
        offset: int | None = None,
        doc_id: str | None = None,
    ) -> None:
        """An unreadable record: text null, ``_error`` = "<file> line N: <message>"; it keeps
        its own ``doc_id`` when that could be read (``id_field``)."""
        index = self.next_index
        self.next_index += 1
        self._quarantine_at(index, reason, message, line, offset, doc_id)

    def _quarantine_at(
        self,
        index: int,
        reason: str,
        message: str,
        line: int | None,
        offset: int | None = None,
        doc_id: str | None = None,
    ) -> None:
        where = (
            f"line {line}"
            if line is not None
            else f"offset {offset}"
            if offset is not None
            else f"record {index}"
        )
        self._append(
            index,
            doc_id,
            line,
            **{Col.SOURCE_OFFSET: offset, Col.FATE: FATE_QUARANTINED, Col.STAGE: READ_STAGE},
            **{Col.REASON: reason, Col.ERROR: f"{self.name} {where}: {message}"},
        )
        self._texts.append(None)
        self._urls.append(None)
        self._meta.append(None)

    def flush(self) -> pa.Table | None:
        """The buffered rows as a conformed table (None when empty); the buffer is cleared."""
        n = len(self)
        if not n:
            return None
        columns: dict[str, Any] = {}
        for col in _COLUMNS:
            if col == Col.SOURCE_PATH:
                columns[col] = pa.array([self.path] * n, pa.string())
            elif col in self._dense:
                columns[col] = self._dense[col]
            else:
                values: list[Any] = [None] * n
                for row, value in self._sparse[col].items():
                    values[row] = value
                columns[col] = values
        self._clear()
        return conform_documents(pa.table(columns))


class RecordFields:
    """Splits a parsed record (a dict) into text, id, url and metadata by the reader params."""

    def __init__(self, params: ReaderParams) -> None:
        self.text_field = params.text_field
        self.id_field = params.id_field
        self.keep = set(params.keep_fields) if params.keep_fields is not None else None
        self._consumed = {self.text_field, "url"}
        if self.id_field:
            self._consumed.add(self.id_field)

    def add(
        self, buf: RowBuffer, rec: Any, *, line: int | None = None, from_orjson: bool = False
    ) -> None:
        """Add one record to ``buf``: a document row, or a quarantined row when unusable.

        ``from_orjson``: ``rec`` was parsed by orjson (valid Unicode, JSON types only).
        """
        if not isinstance(rec, dict):
            buf.quarantine(
                "not_an_object", f"record is a JSON {_json_kind(rec)}, not an object", line=line
            )
            return
        doc_id = self._own_id(rec)
        if self.text_field not in rec:
            buf.quarantine(
                "missing_text", f"no {self.text_field!r} field", line=line, doc_id=doc_id
            )
            return
        text = rec[self.text_field]
        if not isinstance(text, str):
            buf.quarantine(
                "non_string_text",
                f"field {self.text_field!r} is {_json_kind(text)}, not a string",
                line=line,
                doc_id=doc_id,
            )
            return
        url = rec.get("url")
        if not isinstance(url, str):
            url = None
        if self.keep is None:
            other = {k: v for k, v in rec.items() if k not in self._consumed}
        else:
            other = {k: rec[k] for k in rec if k in self.keep and k not in self._consumed}
        if url is None and "url" in rec and (self.keep is None or "url" in self.keep):
            other["url"] = rec["url"]  # a non-string url stays visible in metadata
        buf.add_document(
            text,
            doc_id=doc_id,
            line=line,
            url=url,
            metadata=metadata_json(other, plain_json=from_orjson),
            valid_unicode=from_orjson,
        )

    def _own_id(self, rec: dict) -> str | None:
        """The record's own id (``id_field``), or None to derive one from its position."""
        if not self.id_field:
            return None
        raw_id = rec.get(self.id_field)
        if raw_id is None or raw_id == "":
            return None
        return raw_id if isinstance(raw_id, str) else json.dumps(raw_id)


def _json_kind(value: Any) -> str:
    """The JSON type name of a value, for messages that must not show the value itself."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class StatsReader(Reader):
    """A reader that counts what it saw in ``self.stats`` (reset by every ``read()`` call).

    The counters are complete once the iterator returned by ``read()`` is exhausted.
    """

    def __init__(self, params: ReaderParams | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.stats: dict[str, int] = {}

    def _reset_stats(self, **counters: int) -> None:
        self.stats = dict(counters)

    def read(self, path: str) -> Iterator[pa.Table]:  # pragma: no cover - abstract
        raise NotImplementedError

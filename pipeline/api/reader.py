"""The reader contract: one input file (a unit of work) in, batches of documents out.

A reader never raises on a bad record: it emits the record as a *quarantined* row (text null,
``_fate = "quarantined"``, ``_stage = "read"``, ``_reason`` a short kind such as
``invalid_json``, ``_error`` a one-line message naming the file and line or offset, never the
record's content). Every record of the file becomes exactly one row, numbered by
``source_index`` from 0 in file order, so that conservation can be checked per file.
Reading-level rejections (empty text, a document over ``max_doc_bytes``) are rows with
``_fate = "rejected"``, ``_stage = "read"``. Readers know nothing of Ray.

A reader whose format can be cut below the file (Parquet by row groups, plain JSONL by byte
ranges, zstd and BGZF JSONL by frames / blocks, WARC by records) implements
:meth:`Reader.plan_parts` and :meth:`Reader.measure_part`; the engine then hands ``read`` a
:class:`ReadPart`, and the reader numbers its records from ``part.first_record`` (and lines
from ``part.first_line``), so ids do not depend on the cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from corpusforge.pipeline.api.stage import StageParams
from corpusforge.schemas import DOCUMENT_SCHEMA


class ReaderParams(StageParams):
    """Options common to every reader (format-specific readers extend this)."""

    text_field: str = "text"
    id_field: str | None = None  # use the record's own id; else derive from path + index
    keep_fields: list[str] | None = None  # other fields kept in `metadata`; None keeps all
    batch_rows: int = 2000  # rows per emitted batch
    max_doc_bytes: int = 5_000_000  # longer documents are rejected at read (doc_too_large)


@dataclass(frozen=True)
class ReadPart:
    """A slice of an input file read as one unit of work.

    ``start``/``end``: byte offsets (line formats; both on line starts; compressed formats:
    on frame, member or record starts) or row-group indices (Parquet), end exclusive.
    ``records``/``lines``: what the slice holds (from :meth:`Reader.measure_part`);
    ``first_record``/``first_line``: the file's count before it. ``skip``/``span`` (compressed
    line formats): decompressed bytes that finish a line owned by an earlier part, and the
    decompressed size of the part's blocks.
    """

    start: int
    end: int
    records: int = 0
    lines: int = 0
    first_record: int = 0
    first_line: int = 1
    skip: int = 0
    span: int = 0


class Reader:
    """Base of a reader. Subclasses set ``name``, ``extensions`` and implement ``read``."""

    name: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = ()  # file endings for format: auto
    Params: ClassVar[type[ReaderParams]] = ReaderParams

    def __init__(self, params: ReaderParams | dict[str, Any] | None = None) -> None:
        if isinstance(params, ReaderParams):
            self.params = params
        else:
            self.params = self.Params.model_validate(params or {})
        # counters of the last read() (e.g. WARC records that are not documents); complete
        # once its generator is exhausted, recorded per input in lineage
        self.stats: dict[str, int] = {}

    def read(self, path: str, part: ReadPart | None = None) -> Iterator[pa.Table]:
        """Yield batches conforming to DOCUMENT_SCHEMA (see :func:`conform_documents`).

        ``path`` is a local path or any fsspec URL; open it with ``fsspec.open``. ``part`` is
        only ever given to readers that implement :meth:`plan_parts`.
        """
        raise NotImplementedError

    @classmethod
    def plan_parts(cls, path: str, size: int, target_bytes: int) -> list[tuple[int, int]] | None:
        """Nominal slices of ``path`` of about ``target_bytes`` each, without reading the data
        (file metadata at most); None when the file cannot be cut (the default)."""
        return None

    @classmethod
    def whole_file_reason(cls, path: str) -> str | None:
        """Why ``path``, larger than the unit size, is read as one unit and what would let it
        be cut (one line of the run's log; None: nothing to say)."""
        return None

    @classmethod
    def measure_part(cls, path: str, start: int, end: int) -> ReadPart | None:
        """The part of a nominal slice: its exact bounds and its record and line counts (runs
        as a task, one per slice, in parallel). An empty part (``end == start``) where no
        boundary falls in the slice; None when the file turns out not to be cuttable (e.g.
        one compressed frame, damaged data): the engine then reads it as one unit. The engine
        also reads a file whole unless its parts follow on from each other from offset 0."""
        raise NotImplementedError


def conform_documents(table: pa.Table) -> pa.Table:
    """Cast ``table`` to DOCUMENT_SCHEMA's columns (adding missing ones as nulls), in order.

    Extra columns a stage added are kept after the standard ones.
    """
    n = table.num_rows
    columns: list[pa.Array | pa.ChunkedArray] = []
    names: list[str] = []
    for field in DOCUMENT_SCHEMA:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(n, field.type))
        names.append(field.name)
    for name in table.column_names:
        if name not in names:
            columns.append(table.column(name))
            names.append(name)
    return pa.Table.from_arrays(columns, names=names)

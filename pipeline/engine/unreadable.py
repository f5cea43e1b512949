"""An input file that cannot be read at all becomes one quarantined row, and the run goes on.

Not gzip, not Parquet, binary where text was expected, permission denied: the reader raises,
and instead of failing the task (and the run), the unit ends with ONE row of fate
``quarantined``, reason ``unreadable_file``, whose error names the file (base name) and the
cause. Records a reader yielded before the failure keep their own fates.

Such a row, like a reader's ``truncated_file`` or ``invalid_warc`` row, describes the file, not
a record of it: lineage does not count it in ``inputs.records`` (see the lineage store).
"""

from __future__ import annotations

import contextlib
import json
import re
import zlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api.errors import CorpusforgeError, InputError
from corpusforge.pipeline.api.identity import derive_doc_id
from corpusforge.pipeline.api.reader import conform_documents
from corpusforge.pipeline.io import fsutil
from corpusforge.schemas import FATE_QUARANTINED, Col

UNREADABLE_FILE = "unreadable_file"

# What a reader raises for a file it cannot read; anything else is a bug and fails the run.
UNREADABLE_ERRORS: tuple[type[BaseException], ...] = (
    InputError,
    OSError,  # permission denied, gzip.BadGzipFile, pyarrow's I/O errors
    ValueError,  # pyarrow.ArrowInvalid (not Parquet), UnicodeDecodeError
    EOFError,
    zlib.error,
)

# `b'...'` reprs (gzip quotes the first bytes of the file): never show file content
_BYTES_REPR = re.compile(r"""b(['"]).*?(?<!\\)\1""")


def describe(path: str, exc: BaseException) -> str:
    """The cause, in one line, naming the file by its base name and quoting none of its bytes."""
    text = exc.message if isinstance(exc, CorpusforgeError) else f"{type(exc).__name__}: {exc}"
    text = text.replace(path, fsutil.display_name(path))
    text = _BYTES_REPR.sub("<bytes>", text)
    return " ".join(text.split())[:300]


def unreadable_row(path: str, index: int, exc: BaseException) -> pa.Table:
    """The quarantined row that stands for the unreadable rest of ``path``."""
    return conform_documents(
        pa.table(
            {
                Col.ID: [derive_doc_id(path, index)],
                Col.SOURCE_PATH: [path],
                Col.SOURCE_INDEX: pa.array([index], pa.int64()),
                Col.FATE: [FATE_QUARANTINED],
                Col.STAGE: ["read"],
                Col.REASON: [UNREADABLE_FILE],
                Col.ERROR: [f"{fsutil.display_name(path)}: unreadable file: {describe(path, exc)}"],
            }
        )
    )


def read_guarded(reader: Any, path: str, part: Any = None) -> Iterator[pa.Table]:
    """``reader.read(path)`` (``reader.read(path, part)`` for a part of the file), ending with
    :func:`unreadable_row` where the reader fails on the file; the cause is also left in
    ``reader.stats["unreadable"]`` for the driver."""
    next_index = part.first_record if part is not None else 0
    try:
        for table in reader.read(path) if part is None else reader.read(path, part):
            if table.num_rows:
                indices = table.column(Col.SOURCE_INDEX)
                next_index = max(next_index, int(pc.max(indices).as_py()) + 1)
            yield table
    except UNREADABLE_ERRORS as exc:
        cause = describe(path, exc)
        stats = getattr(reader, "stats", None)
        with contextlib.suppress(AttributeError, TypeError):
            reader.stats = {**(stats if isinstance(stats, dict) else {}), "unreadable": cause}
        yield unreadable_row(path, next_index, exc)


def cause_of(reader_stats: str | None) -> str | None:
    """Why a unit's file was unreadable, from its reader stats (JSON, in the journal)."""
    if not reader_stats or '"unreadable"' not in reader_stats:
        return None
    cause = json.loads(reader_stats).get("unreadable")
    return str(cause) if cause else None


def warning_line(path: str, reader_stats: str | None) -> str | None:
    """The one terminal line for an unreadable file (None for a file that was read)."""
    cause = cause_of(reader_stats)
    if cause is None:
        return None
    name = fsutil.display_name(path)
    return f"{name}: unreadable, quarantined as one unit ({cause}); the other files went on"


def checksum_or_none(path: str) -> tuple[str | None, int | None]:
    """The file's checksum and size, or None for what cannot be read (permission denied)."""
    try:
        return fsutil.file_checksum(path)
    except OSError:
        return None, None

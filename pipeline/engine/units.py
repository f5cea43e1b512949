"""Units of work below the file, planned on the driver.

A file larger than ``input.unit_size_mb`` whose reader can cut it (Parquet: runs of row
groups from the footer; plain JSON Lines: byte ranges cut at line starts; zstd and BGZF JSON
Lines: runs of frames / blocks; WARC: runs of records) becomes several units. The reader
names nominal slices from metadata; one task per slice (in parallel, with one more for the
file's checksum) measures it: exact bounds, records and lines. A file is cut only when its
measured parts follow on from each other from offset 0 (each part's end is found from its
start, so a start that was only guessed is confirmed by the part before); otherwise, or when
a measure finds the file cannot be cut (one zstd frame, damage), it is one unit. Summing the
counts of the earlier parts gives each part the record index and line number it starts at,
so document ids and ``source_line`` are those of a whole-file read. The plan is kept in the
journal: a resumed run reuses it and only reads the parts that did not commit.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from typing import Any

from corpusforge.pipeline.api.reader import ReadPart
from corpusforge.pipeline.engine import journal
from corpusforge.pipeline.engine.executor import Executor
from corpusforge.pipeline.io import fsutil

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unit:
    id: str
    path: str
    format: str
    part: ReadPart | None = None
    number: int | None = None  # the part's number within its file

    def item(self) -> dict[str, Any]:
        """What a read task gets: path, format and the part (JSON; null for a whole file)."""
        part = json.dumps(asdict(self.part)) if self.part is not None else None
        return {"path": self.path, "format": self.format, "part": part, "number": self.number}


def plan_units(
    executor: Executor,
    files: dict[str, str],
    readers: dict[str, type],
    target_bytes: int,
    work_dir: str,
    whole_done: set[str],
) -> tuple[list[Unit], dict[str, dict]]:
    """Units of ``files`` (path -> format) and the plans of files read in parts."""
    plans = journal.load_plans(work_dir)
    todo: list[tuple[str, list[tuple[int, int]]]] = []
    whole: list[str] = []  # files over the unit size read as one unit anyway
    for path, fmt in files.items():
        if path in plans or path in whole_done or target_bytes <= 0:
            continue
        size = _size(path)
        ranges = readers[fmt].plan_parts(path, size, target_bytes)
        if ranges:
            todo.append((path, ranges))
        elif size > target_bytes:
            whole.append(path)
    if todo:
        plans.update(_measure(executor, todo, files, readers, work_dir, whole))
    _log_whole(readers, files, whole)
    units: list[Unit] = []
    for path, fmt in files.items():
        plan = plans.get(path)
        if plan is None or path in whole_done:
            units.append(Unit(path, path, fmt))
            continue
        for k, part in enumerate(plan["parts"]):
            units.append(Unit(journal.unit_id(path, k), path, fmt, ReadPart(**part), k))
    return units, {p: plans[p] for p in files if p in plans and p not in whole_done}


def _size(path: str) -> int:
    fs, p = fsutil.get_fs(path)
    return int(fs.size(p))


def _measure(
    executor: Executor,
    todo: list[tuple[str, list[tuple[int, int]]]],
    files: dict[str, str],
    readers: dict[str, type],
    work_dir: str,
    whole: list[str],
) -> dict[str, dict]:
    calls = [(readers[files[path]], path, s, e) for path, ranges in todo for s, e in ranges]
    calls += [(None, path, 0, 0) for path, _ in todo]
    results = iter(executor.run_tasks(measure_task, calls))
    measured = {path: [next(results) for _ in ranges] for path, ranges in todo}
    plans = {}
    for path, _ in todo:
        checksum, size = next(results)
        if not _follow_on(measured[path]):
            whole.append(path)
            continue
        plan = {
            "path": path,
            "size": size,
            "checksum": checksum,
            "parts": _numbered(measured[path]),
        }
        journal.save_plan(work_dir, plan)
        plans[path] = plan
    return plans


def _follow_on(parts: list[ReadPart | None]) -> bool:
    """True when every slice was measured and the parts tile the file from its start (an
    empty part lies inside the part before it)."""
    reach = 0
    for part in parts:
        if part is None:
            return False
        if part.end > part.start:
            if part.start != reach:
                return False
            reach = part.end
        elif part.start > reach:
            return False
    return True


def _log_whole(readers: dict[str, type], files: dict[str, str], whole: list[str]) -> None:
    """One log line per file over the unit size that stays one unit, with its reader's
    reason (the first few files; then how many more)."""
    notes = [(p, readers[files[p]].whole_file_reason(p)) for p in whole]
    notes = [(p, r) for p, r in notes if r]
    for path, reason in notes[:5]:
        log.info("%s is read as one unit: %s", fsutil.display_name(path), reason)
    if len(notes) > 5:
        log.info("... and %d more files read as one unit each", len(notes) - 5)


def measure_task(reader_cls: type | None, path: str, start: int, end: int) -> Any:
    """One slice's :class:`ReadPart`, or (``reader_cls`` None) the file's checksum."""
    if reader_cls is None:
        return fsutil.file_checksum(path)
    return reader_cls.measure_part(path, start, end)


def _numbered(parts: list[ReadPart]) -> list[dict]:
    """The non-empty parts with the record index and line number each starts at."""
    out, records, lines = [], 0, 0
    for part in parts:
        if part.end > part.start:
            out.append(asdict(replace(part, first_record=records, first_line=lines + 1)))
        records, lines = records + part.records, lines + part.lines
    return out


def file_commits(
    units: list[Unit], commits: dict[str, journal.UnitCommit], plans: dict[str, dict]
) -> dict[str, journal.UnitCommit]:
    """One commit per input file (what lineage's ``inputs`` rows describe): a file read in
    parts sums its parts' commits; its checksum and size come from its plan."""
    by_file: dict[str, list[journal.UnitCommit]] = {}
    for u in units:
        by_file.setdefault(u.path, []).append(commits[u.id])
    out = {}
    for path, parts in by_file.items():
        if path not in plans:
            out[path] = parts[0]
            continue
        plan = plans[path]
        out[path] = journal.UnitCommit(
            path=path,
            key=fsutil.unit_key(path),
            records=sum(c.records for c in parts),
            checksum=plan["checksum"],
            size=plan["size"],
            fragments=[f for c in parts for f in c.fragments],
            live=sum(c.live for c in parts),
            rejected=sum(c.rejected for c in parts),
            quarantined=sum(c.quarantined for c in parts),
            live_bytes=sum(c.live_bytes for c in parts),
            run_id=max(c.run_id for c in parts),  # the run that finished the file
            reader_stats=_sum_stats([c.reader_stats for c in parts]),
        )
    return out


def _sum_stats(encoded: list[str | None]) -> str:
    """Reader counters of a file's parts added up (non-numeric values: the first seen)."""
    total: dict[str, Any] = {}
    for text in encoded:
        for k, v in json.loads(text or "{}").items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                total[k] = total.get(k, 0) + v
            else:
                total.setdefault(k, v)
    return json.dumps(total, sort_keys=True)

"""Phase 0: read the input units, apply the stages before the first global stage, commit.

Every unit (an input file, or a part of one) commits in the journal as soon as all of its
records are in fragments, so a crash redoes only the units that had not committed.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from typing import Any

from corpusforge.pipeline.api.errors import RunError
from corpusforge.pipeline.engine import journal
from corpusforge.pipeline.engine.execute import StageStats, empty_unit_stats, fragment_first
from corpusforge.pipeline.engine.executor import Executor, PhaseWork, ReadWork
from corpusforge.pipeline.engine.fragments import FragmentCounter, fragment_record
from corpusforge.pipeline.engine.progress import PhaseProgress
from corpusforge.pipeline.io import fsutil


@dataclass
class _PendingUnit:
    """What has arrived of one unit so far; it commits when ``rows`` reaches ``total``."""

    fragments: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0
    total: int | None = None
    checksum: str | None = None
    size: int | None = None
    reader_stats: str | None = None


def run_phase0(
    executor: Executor,
    read: ReadWork,
    work: PhaseWork,
    work_dir: str,
    stats: dict[str, StageStats],
) -> dict[str, journal.UnitCommit]:
    """Process ``read.units``; returns their commits (all of them, or the run fails)."""
    fsutil.makedirs(work.phase_dir)
    pending = {u: _PendingUnit() for u in read.units}
    commits: dict[str, journal.UnitCommit] = {}
    counter = FragmentCounter(stats)
    unit_of = _UnitIndex(read)
    progress = PhaseProgress("phase 0", len(read.units))
    for d in counter.each_once(executor.read_phase(read, work)):
        uid = unit_of(d)
        unit = pending[uid]
        unit.fragments.append(fragment_record(d))
        unit.rows += d["rows"]
        if d["unit_total"] is not None:
            unit.total, unit.checksum = d["unit_total"], d["unit_checksum"]
            unit.size, unit.reader_stats = d["unit_size"], d["unit_stats"]
        progress.rows(d["rows"])
        if _try_commit(uid, unit, commits, work_dir, work.run_id, unit_of):
            progress.unit_done(unit.size)
    _commit_empty(executor, read, work, pending, commits, work_dir, unit_of)
    return commits


def _commit_empty(
    executor: Executor,
    read: ReadWork,
    work: PhaseWork,
    pending: dict[str, _PendingUnit],
    commits: dict[str, journal.UnitCommit],
    work_dir: str,
    unit_of: _UnitIndex,
) -> None:
    """Commit the units with no records at all (an empty file, a part of blank lines), with
    the counters of their reader (lines read, records skipped), which no fragment carried."""
    empty = [uid for uid in pending if uid not in commits]
    for uid in empty:
        if pending[uid].rows:
            raise RunError(
                f"{uid}: {pending[uid].rows} rows written but the reader reported "
                f"{pending[uid].total} records",
                hint="a stage duplicated or lost rows",
            )
    items = {uid: read.parts.get(uid) or {"path": uid, "part": None} for uid in empty}
    calls = [
        (
            read.readers[read.formats[uid]],
            read.reader_params,
            work.plugins,
            items[uid]["path"],
            items[uid]["part"],
        )
        for uid in empty
    ]
    results = executor.run_tasks(empty_unit_stats, calls) if calls else []
    for uid, stats in zip(empty, results, strict=True):
        unit = pending[uid]
        if uid not in read.parts:
            unit.checksum, unit.size = fsutil.file_checksum(uid)
        unit.total, unit.reader_stats = 0, stats
        _try_commit(uid, unit, commits, work_dir, work.run_id, unit_of)


class _UnitIndex:
    """The unit a fragment belongs to: its file, or the part whose records it holds."""

    def __init__(self, read: ReadWork) -> None:
        self.parts: dict[str, tuple[list[int], list[str]]] = {}
        self.where: dict[str, tuple[str, int]] = {}
        for uid, item in sorted(read.parts.items(), key=lambda kv: _first(kv[1])):
            firsts, ids = self.parts.setdefault(item["path"], ([], []))
            firsts.append(_first(item))
            ids.append(uid)
            self.where[uid] = (item["path"], item["number"])

    def __call__(self, descriptor: dict[str, Any]) -> str:
        path = descriptor["unit"]
        if path not in self.parts:
            return path
        firsts, ids = self.parts[path]
        first = fragment_first(descriptor["fragment"])
        return ids[bisect.bisect_right(firsts, first) - 1]


def _first(item: dict[str, Any]) -> int:
    return int(json.loads(item["part"])["first_record"])


def _try_commit(
    uid: str,
    unit: _PendingUnit,
    commits: dict[str, journal.UnitCommit],
    work_dir: str,
    run_id: str,
    unit_of: _UnitIndex,
) -> bool:
    """Commit the unit once all its rows are in; True when it committed now."""
    if unit.total is None or unit.rows != unit.total or uid in commits:
        return False
    path, number = unit_of.where.get(uid, (uid, None))
    key = fsutil.unit_key(path) + (f"-part{number:05d}" if number is not None else "")
    frags = unit.fragments
    commit = journal.UnitCommit(
        path=path,
        key=key,
        records=unit.total,
        checksum=unit.checksum,
        size=unit.size,
        fragments=frags,
        live=sum(f["live"] for f in frags),
        rejected=sum(f["rejected"] for f in frags),
        quarantined=sum(f["quarantined"] for f in frags),
        live_bytes=sum(f["live_bytes"] for f in frags),
        run_id=run_id,
        reader_stats=unit.reader_stats,
        part=number,
    )
    journal.commit_unit(work_dir, commit)
    commits[uid] = commit
    return True

"""Phase 0: read the input units, apply the stages before the first global stage, commit.

Every unit (an input file) commits in the journal as soon as all of its records are in
fragments, so a crash redoes only the units that had not committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from corpusforge.pipeline.api.errors import RunError
from corpusforge.pipeline.engine import journal
from corpusforge.pipeline.engine.execute import StageStats
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
    progress = PhaseProgress("phase 0", len(read.units))
    for d in counter.each_once(executor.read_phase(read, work)):
        unit = pending[d["unit"]]
        unit.fragments.append(fragment_record(d))
        unit.rows += d["rows"]
        if d["unit_total"] is not None:
            unit.total, unit.checksum = d["unit_total"], d["unit_checksum"]
            unit.size, unit.reader_stats = d["unit_size"], d["unit_stats"]
        progress.rows(d["rows"])
        if _try_commit(d["unit"], unit, commits, work_dir, work.run_id):
            progress.unit_done(unit.size)
    for path, unit in pending.items():
        if path in commits:
            continue
        if unit.rows:
            raise RunError(
                f"{path}: {unit.rows} rows written but the reader reported {unit.total} records",
                hint="a stage duplicated or lost rows",
            )
        # a unit with no records at all (an empty file) completes with the phase
        unit.checksum, unit.size = fsutil.file_checksum(path)
        unit.total = 0
        _try_commit(path, unit, commits, work_dir, work.run_id)
    return commits


def _try_commit(
    path: str,
    unit: _PendingUnit,
    commits: dict[str, journal.UnitCommit],
    work_dir: str,
    run_id: str,
) -> bool:
    """Commit the unit once all its rows are in; True when it committed now."""
    if unit.total is None or unit.rows != unit.total or path in commits:
        return False
    frags = unit.fragments
    commit = journal.UnitCommit(
        path=path,
        key=fsutil.unit_key(path),
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
    )
    journal.commit_unit(work_dir, commit)
    commits[path] = commit
    return True

"""The run's memory of finished work under ``OUT/_work``: what a resumed run may skip.

Phase 0 commits per unit of work (an input file, or a part of one): once every record of the
unit is in fragments, one small JSON file names those fragments. A file read in parts also
keeps its plan (the parts, their record counts, the file's checksum) so that a resumed run
neither re-measures it nor cuts it differently. A fragment not named by a commit is
debris of an interrupted run and is deleted before work resumes. Later phases (after a global
stage) commit as a whole, keyed by a fingerprint of their input.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from corpusforge.pipeline.io import fsutil

JOURNAL_DIR = "_journal"
PHASE_DONE = "_DONE.json"
PLANS_DIR = "_plans"


@dataclass
class UnitCommit:
    path: str
    key: str
    records: int
    checksum: str | None
    size: int | None
    fragments: list[dict] = field(default_factory=list)  # fragment descriptors (name, counts)
    live: int = 0
    rejected: int = 0
    quarantined: int = 0
    live_bytes: int = 0
    run_id: str = ""
    reader_stats: str | None = None  # JSON counters of the reader (e.g. skipped records)
    part: int | None = None  # the part's number for a file read in parts

    @property
    def unit(self) -> str:
        return unit_id(self.path, self.part)


def unit_id(path: str, part: int | None) -> str:
    """The id of a unit: the file's path, or ``path#partNNNNN`` for a part of it."""
    return path if part is None else f"{path}#part{part:05d}"


def phase_dir(work_dir: str, index: int) -> str:
    return fsutil.join(work_dir, f"phase{index}")


def load_unit_commits(work_dir: str) -> dict[str, UnitCommit]:
    commits: dict[str, UnitCommit] = {}
    for url in fsutil.listdir(fsutil.join(phase_dir(work_dir, 0), JOURNAL_DIR), ".json"):
        data = json.loads(fsutil.read_bytes(url))
        commit = UnitCommit(**data)
        commits[commit.unit] = commit
    return commits


def commit_unit(work_dir: str, commit: UnitCommit) -> None:
    url = fsutil.join(phase_dir(work_dir, 0), JOURNAL_DIR, f"{commit.key}.json")
    fsutil.atomic_write_bytes(url, json.dumps(asdict(commit), sort_keys=True).encode())


def load_plans(work_dir: str) -> dict[str, dict]:
    """The remembered plans of files read in parts, by path."""
    plans = {}
    for url in fsutil.listdir(fsutil.join(phase_dir(work_dir, 0), PLANS_DIR), ".json"):
        data = json.loads(fsutil.read_bytes(url))
        plans[data["path"]] = data
    return plans


def save_plan(work_dir: str, plan: dict) -> None:
    url = fsutil.join(phase_dir(work_dir, 0), PLANS_DIR, f"{fsutil.unit_key(plan['path'])}.json")
    fsutil.atomic_write_bytes(url, json.dumps(plan, sort_keys=True).encode())


def remove_orphan_fragments(work_dir: str, commits: dict[str, UnitCommit]) -> int:
    """Delete phase-0 fragments no commit names (left by a crash mid-unit)."""
    named = {f["fragment"] for c in commits.values() for f in c.fragments}
    removed = 0
    for url in fsutil.listdir(phase_dir(work_dir, 0), ".parquet"):
        name = url.rsplit("/", 1)[-1]
        if name not in named:
            fsutil.remove(url)
            removed += 1
    for url in fsutil.listdir(phase_dir(work_dir, 0)):
        if ".tmp-" in url:
            fsutil.remove(url)
    return removed


def load_phase_done(work_dir: str, index: int) -> dict | None:
    url = fsutil.join(phase_dir(work_dir, index), PHASE_DONE)
    if not fsutil.exists(url):
        return None
    return json.loads(fsutil.read_bytes(url))


def commit_phase(work_dir: str, index: int, fingerprint: str, fragments: list[dict]) -> None:
    url = fsutil.join(phase_dir(work_dir, index), PHASE_DONE)
    payload = {
        "fingerprint": fingerprint,
        "fragments": sorted(fragments, key=lambda d: d["fragment"]),
    }
    fsutil.atomic_write_bytes(url, json.dumps(payload, sort_keys=True).encode())

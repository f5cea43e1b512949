"""Forgetting inside ``OUT/_work``: the phase checkpoints a later run resumes from.

In phase 0 (which holds every document) a forgotten document's row stays, marked
``forgotten`` with its content columns cleared, so lineage keeps its fate and a resumed run
never sees it live again; later phases drop its row (it was never live there). The journal's
fragment counts are rewritten to match, so a later global phase still balances.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api import set_column
from corpusforge.pipeline.engine import journal
from corpusforge.pipeline.engine.execute import N_BYTES, N_CHARS, TEXT_HASH
from corpusforge.pipeline.io import fsutil
from corpusforge.schemas import FATE_FORGOTTEN, FATE_QUARANTINED, FATE_REJECTED, Col

FORGET_STAGE = "forget"
FORGET_REASON = "forgotten"
IDENTITY = {
    Col.ID,
    Col.SOURCE_PATH,
    Col.SOURCE_INDEX,
    Col.SOURCE_LINE,
    Col.SOURCE_OFFSET,
    Col.FATE,
    Col.STAGE,
    Col.REASON,
    Col.DETAIL,
    Col.ERROR,
    N_CHARS,
    N_BYTES,
    TEXT_HASH,
}


def phase_indices(work_dir: str) -> list[int]:
    fs, path = fsutil.get_fs(work_dir)
    if not fs.exists(path):
        return []
    names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)]
    return sorted(int(m.group(1)) for n in names if (m := re.fullmatch(r"phase(\d+)", n)))


def candidate_fragments(work_dir: str, phase: int, unit_keys: set[str]) -> list[str]:
    """Fragments of ``phase`` that may hold documents of these units (names start with the
    unit key)."""
    found = []
    for url in fsutil.listdir(journal.phase_dir(work_dir, phase), ".parquet"):
        name = url.rsplit("/", 1)[-1]
        if name.rsplit("-", 2)[0] in unit_keys:
            found.append(url)
    return found


def forget_rows(table: pa.Table, mask: pa.Array, request_id: str | pa.Array) -> pa.Table:
    """``table`` with the rows of ``mask`` marked forgotten and their content cleared
    (``request_id``: one for all rows, or one per row)."""
    marks = {
        Col.FATE: FATE_FORGOTTEN,
        Col.STAGE: FORGET_STAGE,
        Col.REASON: FORGET_REASON,
        Col.DETAIL: request_id,
        Col.ERROR: None,
    }
    for name, value in marks.items():
        old = (
            table.column(name).combine_chunks()
            if name in table.column_names
            else pa.nulls(table.num_rows, pa.string())
        )
        new = value if isinstance(value, pa.Array) else pa.scalar(value, pa.string())
        table = set_column(table, name, pc.if_else(mask, new, old))
    for i, fld in enumerate(table.schema):
        numeric = pa.types.is_integer(fld.type) or pa.types.is_floating(fld.type)
        if fld.name in IDENTITY or numeric or pa.types.is_boolean(fld.type):
            continue
        col = table.column(i).combine_chunks()
        table = table.set_column(i, fld, pc.if_else(mask, pa.scalar(None, fld.type), col))
    return table


def descriptor(name: str, table: pa.Table, size: int) -> dict[str, Any]:
    """A fragment's journal record, recounted (the fields the runner keeps)."""
    fates = table.column(Col.FATE)
    live = pc.is_null(fates)
    n_bytes = table.column(N_BYTES) if N_BYTES in table.column_names else None
    return {
        "fragment": name,
        "rows": table.num_rows,
        "live": int(pc.sum(live).as_py() or 0),
        "rejected": int(pc.sum(pc.equal(fates, FATE_REJECTED)).as_py() or 0),
        "quarantined": int(pc.sum(pc.equal(fates, FATE_QUARANTINED)).as_py() or 0),
        "live_bytes": int(pc.sum(n_bytes.filter(live)).as_py() or 0) if n_bytes else 0,
        "bytes": size,
    }


def unit_commit_files(work_dir: str, new: dict[str, dict[str, Any]]) -> dict[str, bytes]:
    """Journal files of phase 0 whose fragments changed: relative name -> new content."""
    out: dict[str, bytes] = {}
    for commit in journal.load_unit_commits(work_dir).values():
        frags = [new.get(f["fragment"], f) for f in commit.fragments]
        if frags == commit.fragments:
            continue
        commit.fragments = frags
        for key in ("live", "rejected", "quarantined", "live_bytes"):
            setattr(commit, key, sum(f[key] for f in frags))
        rel = f"phase0/{journal.JOURNAL_DIR}/{commit.key}.json"
        out[rel] = json.dumps(asdict(commit), sort_keys=True).encode()
    return out


def phase_done_file(work_dir: str, phase: int, new: dict[str, dict[str, Any]]) -> bytes | None:
    """A later phase's ``_DONE.json`` with the changed fragments recounted."""
    done = journal.load_phase_done(work_dir, phase)
    if done is None:
        return None
    frags = [new.get(f["fragment"], f) for f in done["fragments"]]
    payload = {**done, "fragments": sorted(frags, key=lambda d: d["fragment"])}
    return json.dumps(payload, sort_keys=True).encode()

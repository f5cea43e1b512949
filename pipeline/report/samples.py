"""A few rejected documents per reason, read from ``OUT/rejected/*.parquet`` with DuckDB.

The only part of the report that shows document text, so it is bounded and labelled: at
most ``per_reason`` documents per (stage, reason), text cut to ``max_chars``, and each group
says whether its text went through a PII stage (a document rejected before the PII stage ran,
or in a run without one, holds its original text). Runs on sensitive corpora turn samples off
with ``output.report_samples: false`` or ``corpusforge report --no-samples``.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

import duckdb

from corpusforge.pipeline.registry import all_stages

PER_REASON = 3
MAX_CHARS = 300


def _redacting_position(stage_rows: list[dict[str, Any]]) -> int | None:
    """Position of the run's first stage that redacts text (``Stage.redacts_text``)."""
    stages = all_stages()
    for i, row in enumerate(stage_rows):
        cls = stages.get(row.get("kind") or "")
        if cls is not None and cls.redacts_text:
            return i
    return None


def rejected_samples(
    out_dir: str | Path,
    stage_rows: list[dict[str, Any]],
    per_reason: int = PER_REASON,
    max_chars: int = MAX_CHARS,
) -> dict[str, Any]:
    files = sorted(glob.glob(os.path.join(str(out_dir), "rejected", "*.parquet")))
    pii_at = _redacting_position(stage_rows)
    position = {row["stage"]: i for i, row in enumerate(stage_rows)}
    result: dict[str, Any] = {
        "pii_stage": stage_rows[pii_at]["stage"] if pii_at is not None else None,
        "max_chars": max_chars,
        "groups": [],
    }
    if not files:
        return result
    con = duckdb.connect()
    try:
        src = "read_parquet(?, union_by_name=true)"
        names = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}", [files]).fetchall()}
        if not {"id", "text", "reject_stage", "reject_reason"} <= names:
            return result
        # pick ids first without touching the text column (projection pushdown keeps this
        # cheap on a large rejected output), then read only those documents' text
        picked = con.execute(
            f"SELECT reject_stage, reject_reason, id FROM {src} "
            "QUALIFY row_number() OVER (PARTITION BY reject_stage, reject_reason ORDER BY id) "
            "<= ? ORDER BY reject_stage, reject_reason, id",
            [files, per_reason],
        ).fetchall()
        ids = [r[2] for r in picked]
        # rejected/ says which stage redacted each text (output.rejected_text, redacted by
        # default); older outputs do not, and then the stage order tells
        by = "text_redacted_by" if "text_redacted_by" in names else "NULL"
        rows = con.execute(
            f"SELECT id, left(text, ?), length(text), {by} FROM {src} WHERE id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [max_chars, files, ids],
        ).fetchall()
        texts = {r[0]: (r[1], r[2]) for r in rows}
        redacted_ids = {r[0] for r in rows if r[3] is not None}
    finally:
        con.close()
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for stage, reason, doc_id in picked:
        key = (stage or "?", reason or "?")
        if key not in groups:
            stage_pos = position.get(stage)
            redacted = pii_at is not None and stage_pos is not None and stage_pos > pii_at
            groups[key] = {"stage": key[0], "reason": key[1], "redacted": redacted, "docs": []}
        if doc_id in redacted_ids:
            groups[key]["redacted"] = True
        text, n = texts.get(doc_id, (None, None))
        groups[key]["docs"].append(
            {"id": doc_id, "text": text, "chars": n, "truncated": bool(n and n > max_chars)}
        )
    result["groups"] = list(groups.values())
    return result

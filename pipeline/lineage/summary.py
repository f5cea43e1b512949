"""What a finished run reports: counts read back from its lineage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpusforge.pipeline.lineage.store import FILE_ROW


@dataclass
class RunResult:
    run_id: str
    output: str
    lineage_path: str
    seconds: float
    units_total: int
    units_processed: int
    units_skipped: int
    records: int = 0
    kept: int = 0
    rejected: int = 0
    quarantined: int = 0
    stages: list[dict[str, Any]] = field(default_factory=list)
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    report_path: str | None = None
    # input files that could not be read (or were cut): path -> the quarantine error
    damaged_files: dict[str, str] = field(default_factory=dict)


def summarize(lineage_path: str, run_id: str | None = None) -> RunResult:
    """Counts of a finished run, read back from its lineage."""
    import duckdb

    con = duckdb.connect(lineage_path, read_only=True)
    try:
        if run_id is None:
            run_id = con.execute(
                "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1"
            ).fetchone()[0]
        run = con.execute(
            "SELECT seconds, units_processed, units_skipped FROM runs WHERE run_id = ?", [run_id]
        ).fetchone()
        fates = dict(con.execute("SELECT fate, count(*) FROM documents GROUP BY fate").fetchall())
        reasons = dict(
            con.execute(
                "SELECT coalesce(stage, '?') || ':' || coalesce(reason, '?'), count(*) "
                "FROM documents WHERE fate <> 'kept' GROUP BY ALL ORDER BY 2 DESC"
            ).fetchall()
        )
        cur = con.execute(
            "SELECT stage, kind, phase, docs_in, docs_out, docs_rejected, bytes_in, bytes_out, "
            "seconds, docs_in_total, docs_rejected_total FROM stage_stats WHERE run_id = ? "
            "ORDER BY position",
            [run_id],
        )
        names = [d[0] for d in cur.description]
        stages = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        outputs_rows = [
            {"kind": k, "path": p, "rows": r, "bytes": b}
            for k, p, r, b in con.execute(
                "SELECT kind, path, rows, bytes FROM outputs ORDER BY path"
            ).fetchall()
        ]
        units_total = con.execute("SELECT count(*) FROM inputs").fetchone()[0]
        damaged = con.execute(
            f"SELECT source_path, min(error) FROM documents WHERE {FILE_ROW} "
            "GROUP BY source_path ORDER BY source_path"
        ).fetchall()
    finally:
        con.close()
    return RunResult(
        run_id=run_id,
        output=str(Path(lineage_path).parent),
        lineage_path=lineage_path,
        seconds=float(run[0] or 0),
        units_total=int(units_total),
        units_processed=int(run[1] or 0),
        units_skipped=int(run[2] or 0),
        records=int(sum(fates.values())),
        kept=int(fates.get("kept", 0)),
        rejected=int(fates.get("rejected", 0)),
        quarantined=int(fates.get("quarantined", 0)),
        stages=stages,
        rejects_by_reason={k: int(v) for k, v in reasons.items()},
        outputs=outputs_rows,
        damaged_files={p: e for p, e in damaged},
    )

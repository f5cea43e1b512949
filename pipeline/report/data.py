"""The report's numbers: DuckDB queries over ``OUT/lineage.duckdb`` -> one plain dict.

This dict is the JSON form of the report (``corpusforge report OUT --format json``) and the
only input of the HTML renderer. Every figure is an aggregate computed inside DuckDB (counts,
sums, histogram bins), so a run of millions of documents is summarized without pulling its
rows into Python. Every section copes with its columns being absent: a run without langid has
``languages: None``, and so on. Nothing here reads document text except the rejected samples
(``report_samples.py``), which are opt-out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import duckdb

from corpusforge.pipeline.api.report import presented_by_section, report_sections
from corpusforge.pipeline.lineage.query import connect
from corpusforge.pipeline.registry import load_report_sections
from corpusforge.schemas import OUTPUT_STEPS

HIST_BINS = 30
# engine columns of `documents`: never signals
BASE_COLUMNS = {
    "doc_id",
    "source_path",
    "source_index",
    "source_line",
    "source_offset",
    "fate",
    "stage",
    "reason",
    "detail",
    "error",
    "n_chars",
    "n_bytes",
    "text_hash",
    "phase",
}
NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)
INPUTS_LIMIT = 200


def _q(name: str) -> str:
    """A quoted SQL identifier (lineage column names come from stage code)."""
    return '"' + name.replace('"', '""') + '"'


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _plain(value: Any) -> Any:
    """JSON-safe scalars: timestamps as ISO strings, NaN as None, Decimals/HUGEINTs as numbers."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return _plain(obj)


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {t[0] for t in con.execute("SHOW TABLES").fetchall()}


def _doc_columns(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute("DESCRIBE documents").fetchall()}


def _is_numeric(sql_type: str) -> bool:
    return sql_type.upper().startswith(NUMERIC_TYPES)


# ------------------------------------------------------------------ sections


def _run(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    rows = _rows(
        con,
        "SELECT run_id, name, status, started_at, finished_at, seconds, version, "
        "units_processed, units_skipped, config FROM runs ORDER BY started_at DESC LIMIT 1",
    )
    if not rows:
        return {}
    run = rows[0]
    config = run.pop("config")
    try:
        run["config"] = json.loads(config) if isinstance(config, str) else config
    except ValueError:
        run["config"] = None
    return run


def _totals(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    row = _rows(
        con,
        "SELECT count(*) AS records, "
        "count(*) FILTER (WHERE fate = 'kept') AS kept, "
        "count(*) FILTER (WHERE fate = 'rejected') AS rejected, "
        "count(*) FILTER (WHERE fate = 'quarantined') AS quarantined, "
        "coalesce(sum(n_bytes), 0) AS bytes, "
        "coalesce(sum(n_bytes) FILTER (WHERE fate = 'kept'), 0) AS kept_bytes, "
        "coalesce(sum(n_chars) FILTER (WHERE fate = 'kept'), 0) AS kept_chars "
        "FROM documents",
    )[0]
    return {k: int(v) for k, v in row.items()}


def _funnel(
    con: duckdb.DuckDBPyConnection, run_id: str | None, total: dict[str, int]
) -> list[dict[str, Any]]:
    """Documents and bytes into and out of each step, over all documents (lineage totals).

    The first step is the read (quarantined and rejected-at-read records); then every stage
    in pipeline order. A stage's input is what the previous step let through.
    """
    by_stage = {
        (r["stage"], r["reason"]): r
        for r in _rows(
            con,
            "SELECT stage, reason, any_value(fate) AS fate, count(*) AS docs, "
            "coalesce(sum(n_bytes), 0) AS bytes FROM documents WHERE fate <> 'kept' "
            "GROUP BY stage, reason",
        )
    }
    kinds = {
        r["stage"]: r["kind"]
        for r in _rows(
            con,
            "SELECT stage, kind FROM stage_stats WHERE run_id = ? ORDER BY position",
            [run_id],
        )
    }
    stage_names = [s for s, kind in kinds.items() if kind not in OUTPUT_STEPS]  # reject nothing
    steps = ["read", *[s for s in stage_names if s != "read"]]
    # a reject by a stage this run no longer has (config changed, resumed) still counts
    known = set(steps)
    steps += sorted({s for s, _ in by_stage if s is not None and s not in known})
    docs, nbytes = total["records"], total["bytes"]
    funnel = []
    for step in steps:
        reasons = {
            (reason or "?"): {"docs": int(r["docs"]), "bytes": int(r["bytes"]), "fate": r["fate"]}
            for (stage, reason), r in sorted(by_stage.items(), key=lambda kv: -kv[1]["docs"])
            if stage == step or (step == "read" and stage is None)
        }
        out_docs = sum(r["docs"] for r in reasons.values())
        out_bytes = sum(r["bytes"] for r in reasons.values())
        funnel.append(
            {
                "stage": step,
                "kind": kinds.get(step, step),
                "docs_in": docs,
                "bytes_in": nbytes,
                "docs_out": docs - out_docs,
                "bytes_out": nbytes - out_bytes,
                "rejected": out_docs,
                "reasons": reasons,
            }
        )
        docs -= out_docs
        nbytes -= out_bytes
    return funnel


def _stages(con: duckdb.DuckDBPyConnection, run_id: str | None) -> list[dict[str, Any]]:
    """This run's work per stage: counters from the workers, with throughput."""
    rows = _rows(
        con,
        "SELECT stage, kind, phase, docs_in, docs_out, docs_rejected, bytes_in, bytes_out, "
        "seconds, docs_in_total, docs_rejected_total FROM stage_stats WHERE run_id = ? "
        "ORDER BY position",
        [run_id],
    )
    for r in rows:
        r["type"] = r["kind"]  # the registered stage type (an instance may be renamed)
        r["kind"] = _stage_kind(r["type"])
    return rows


def _stage_kind(type_name: str) -> str:
    """task, model or global, as `corpusforge stages` says."""
    from corpusforge.pipeline.registry import all_stages

    cls = all_stages().get(type_name)
    if cls is None:
        if type_name in OUTPUT_STEPS:
            return "output"
        return "read" if type_name == "read" else ""
    return "global" if cls.is_global else ("model" if cls.stateful else "task")


def _with_global_work(stages: list[dict[str, Any]], funnel: list[dict[str, Any]]) -> None:
    """Global stages work on every live document of their phase, but their workers' counters
    stay 0: their numbers come from lineage (the funnel) instead. Then throughput."""
    by_stage = {f["stage"]: f for f in funnel}
    for r in stages:
        step = by_stage.get(r["stage"])
        if r["kind"] == "global" and not r["docs_in"] and step is not None:
            r["docs_in"], r["docs_rejected"] = step["docs_in"], step["rejected"]
            r["docs_out"] = step["docs_out"]
            r["bytes_in"], r["bytes_out"] = step["bytes_in"], step["bytes_out"]
        secs = r["seconds"] or 0.0
        r["docs_per_s"] = (r["docs_in"] or 0) / secs if secs > 0 else None
        r["mb_per_s"] = (r["bytes_in"] or 0) / 1e6 / secs if secs > 0 else None


def _histogram(
    con: duckdb.DuckDBPyConnection, column: str, log: bool = False, bins: int = HIST_BINS
) -> dict[str, Any] | None:
    """Equal-width bins (of log10 for lengths) with kept and rejected counts per bin."""
    c = f"CAST({_q(column)} AS DOUBLE)"
    x = f"log10(greatest({c}, 1))" if log else c
    where = f"{_q(column)} IS NOT NULL AND isfinite({c}) AND fate IN ('kept', 'rejected')"
    lo, hi, n = con.execute(
        f"SELECT min({x}), max({x}), count(*) FROM documents WHERE {where}"
    ).fetchone()
    if not n:
        return None
    width = (hi - lo) / bins if hi > lo else 1.0
    counts = con.execute(
        f"SELECT least(CAST(floor(({x} - ?) / ?) AS INTEGER), ?) AS bin, "
        f"count(*) FILTER (WHERE fate = 'kept'), count(*) FILTER (WHERE fate = 'rejected') "
        f"FROM documents WHERE {where} GROUP BY 1 ORDER BY 1",
        [lo, width, bins - 1],
    ).fetchall()
    out = []
    for b, kept, rejected in counts:
        start, end = lo + b * width, lo + (b + 1) * width
        if log:
            start, end = 10**start, 10**end
        out.append({"start": start, "end": end, "kept": int(kept), "rejected": int(rejected)})
    stats = _rows(
        con,
        f"SELECT min({c}) AS min, max({c}) AS max, avg({c}) AS mean, "
        f"quantile_cont({c}, 0.5) AS median FROM documents WHERE {where}",
    )[0]
    return {"column": column, "log": log, "count": int(n), "bins": out, **stats}


def _signals(con: duckdb.DuckDBPyConnection, columns: dict[str, str]) -> dict[str, Any]:
    """Every numeric lineage column of a stage (quality signals, scores) as a histogram."""
    out = {}
    for name, sql_type in sorted(columns.items()):
        if name in BASE_COLUMNS or presented_by_section(name):
            continue
        if not _is_numeric(sql_type):
            continue
        hist = _histogram(con, name)
        if hist is not None:
            out[name] = hist
    return out


def _outputs(con: duckdb.DuckDBPyConnection) -> list[dict]:
    return _rows(
        con,
        "SELECT kind, count(*) AS files, sum(rows) AS rows, sum(bytes) AS bytes "
        "FROM outputs GROUP BY 1 ORDER BY 1",
    )


def _inputs(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    summary = _rows(
        con,
        "SELECT status, count(*) AS files, coalesce(sum(records), 0) AS records, "
        "coalesce(sum(rejected), 0) AS rejected, coalesce(sum(quarantined), 0) AS quarantined, "
        "coalesce(sum(size), 0) AS bytes FROM inputs GROUP BY 1 ORDER BY 1",
    )
    # the files worth a look first: unreadable or cut ones, those with quarantined records,
    # then the largest
    files = _rows(
        con,
        "SELECT path, status, records, rejected, quarantined, size FROM inputs "
        "ORDER BY status IS DISTINCT FROM 'done' DESC, quarantined DESC NULLS LAST, "
        f"size DESC NULLS LAST, path LIMIT {INPUTS_LIMIT}",
    )
    total = con.execute("SELECT count(*) FROM inputs").fetchone()[0]
    return {"by_status": summary, "files": files, "total_files": int(total)}


class _LineageQuery:
    """The :class:`~corpusforge.pipeline.api.ReportQuery` of one lineage connection."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        columns: dict[str, str],
        tables: set[str],
        funnel: list[dict[str, Any]],
    ) -> None:
        self._con = con
        self.columns = columns
        self.tables = tables
        self.funnel = funnel

    def rows(self, sql: str) -> list[dict[str, Any]]:
        return _rows(self._con, sql)

    def scalar(self, sql: str) -> Any:
        row = self._con.execute(sql).fetchone()
        return _plain(row[0]) if row else None

    def histogram(self, column: str, log: bool = False) -> dict[str, Any] | None:
        return _histogram(self._con, column, log=log)


def report_highlights(data: dict[str, Any]) -> list[str]:
    """One terminal line per section of ``data`` that has one."""
    lines = []
    for section in report_sections():
        line = section.highlight(data.get(section.key)) if section.highlight else None
        if line:
            lines.append(line)
    return lines


def report_data(out_dir: str | Path, samples: bool | None = None) -> dict[str, Any]:
    """The whole report as a JSON-ready dict (see the module doc).

    ``samples``: include a few rejected documents per reason (truncated text); ``None``
    follows the run's ``output.report_samples`` setting (default on).
    """
    from corpusforge.pipeline.report.samples import rejected_samples

    load_report_sections()

    con = connect(out_dir)
    try:
        tables = _tables(con)
        columns = _doc_columns(con)
        run = _run(con)
        run_id = run.get("run_id")
        totals = _totals(con)
        funnel = _funnel(con, run_id, totals)
        stage_rows = _stages(con, run_id)
        _with_global_work(stage_rows, funnel)
        lengths = {
            "n_chars": _histogram(con, "n_chars", log=True),
            "n_bytes": _histogram(con, "n_bytes", log=True),
        }
        query = _LineageQuery(con, columns, tables, funnel)
        data: dict[str, Any] = {
            "out_dir": str(out_dir),
            "run": run,
            "totals": totals,
            "funnel": funnel,
            "stages": stage_rows,
            "lineage_columns": sorted(c for c in columns if c not in BASE_COLUMNS),
            "signals": _signals(con, columns),
            "lengths": lengths,
            "outputs": _outputs(con),
            "inputs": _inputs(con),
        }
        for section in report_sections():
            data[section.key] = section.data(query)
    finally:
        con.close()
    if samples is None:
        cfg = (run.get("config") or {}).get("output", {}) if isinstance(run, dict) else {}
        samples = bool(cfg.get("report_samples", True))
    data["samples"] = rejected_samples(out_dir, stage_rows) if samples else None
    return _clean(data)

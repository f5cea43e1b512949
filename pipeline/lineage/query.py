"""Read-only questions to a run's lineage: one document's story, SQL, a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from corpusforge.pipeline.api.errors import CorpusforgeError
from corpusforge.pipeline.lineage.store import LINEAGE_FILE


def connect(out_dir: str | Path) -> duckdb.DuckDBPyConnection:
    path = Path(out_dir) / LINEAGE_FILE
    if not path.exists():
        raise CorpusforgeError(
            f"no lineage at {path}", hint="give the output folder of a finished run"
        )
    return duckdb.connect(str(path), read_only=True)


def document(out_dir: str | Path, doc_id: str) -> list[dict[str, Any]]:
    """Every lineage row of ``doc_id`` (more than one only when input ids repeat)."""
    con = connect(out_dir)
    try:
        cur = con.execute("SELECT * FROM documents WHERE doc_id = ?", [doc_id])
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        tables = {t[0] for t in con.execute("SHOW TABLES").fetchall()}
        if rows and "doc_outputs" in tables:
            for out in con.execute(
                "SELECT output, shard, start, length FROM doc_outputs WHERE doc_id = ?", [doc_id]
            ).fetchall():
                rows[0][f"output:{out[0]}"] = f"{out[1]} @ {out[2]} (+{out[3]})"
    finally:
        con.close()
    return rows


def sql(out_dir: str | Path, query: str) -> tuple[list[str], list[tuple]]:
    con = connect(out_dir)
    try:
        cur = con.execute(query)
        cols = [d[0] for d in cur.description] if cur.description else []
        return cols, cur.fetchmany(10_000)
    except duckdb.Error as exc:
        raise CorpusforgeError(f"query failed: {exc}") from None
    finally:
        con.close()


def summary(out_dir: str | Path) -> dict[str, tuple[list[str], list[tuple]]]:
    queries = {
        "runs": "SELECT run_id, status, seconds, units_processed, units_skipped FROM runs "
        "ORDER BY started_at",
        "fates": "SELECT fate, coalesce(stage, '') AS stage, coalesce(reason, '') AS reason, "
        "count(*) AS docs, sum(n_bytes) AS bytes FROM documents GROUP BY ALL "
        "ORDER BY fate, docs DESC",
        "inputs": "SELECT path, records, rejected, quarantined, size, checksum FROM inputs "
        "ORDER BY path LIMIT 50",
    }
    result = {}
    con = connect(out_dir)
    try:
        for title, q in queries.items():
            cur = con.execute(q)
            result[title] = ([d[0] for d in cur.description], cur.fetchall())
    finally:
        con.close()
    return result

"""Lineage in DuckDB: the run's memory, queryable with the duckdb CLI.

Tables: ``runs`` (one row per run, history kept), ``inputs`` (current state of every input
file), ``stage_stats`` (per run and stage: counters, ``mb_per_s`` per worker-second, and
``metrics``, the figures a stage reports itself, e.g. GPU busy %), ``outputs`` (files
written), ``documents`` (one row per input record: its fate and signals, never its text),
``doc_outputs`` (where each kept document landed: ``output`` (``data`` or a sink name),
``shard``, ``start`` (row, or first token) and ``length`` (1 row, or the token count)).
Per-document rows come from the Parquet fragments the workers wrote; DuckDB ingests them
without passing through Python.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from corpusforge.pipeline.api.errors import ConservationError
from corpusforge.schemas import DOCUMENT_SCHEMA, ENGINE_STEPS

LINEAGE_FILE = "lineage.duckdb"

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, name VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP,
    status VARCHAR, error VARCHAR, config JSON, version VARCHAR, seconds DOUBLE,
    units_processed BIGINT, units_skipped BIGINT
);
ALTER TABLE runs ADD COLUMN IF NOT EXISTS provenance JSON;
CREATE TABLE IF NOT EXISTS stage_stats (
    run_id VARCHAR, position INTEGER, stage VARCHAR, kind VARCHAR, phase INTEGER,
    docs_in BIGINT, docs_out BIGINT, docs_rejected BIGINT, bytes_in BIGINT, bytes_out BIGINT,
    seconds DOUBLE, rejects JSON, docs_in_total BIGINT, docs_rejected_total BIGINT
);
ALTER TABLE stage_stats ADD COLUMN IF NOT EXISTS mb_per_s DOUBLE;
ALTER TABLE stage_stats ADD COLUMN IF NOT EXISTS metrics JSON;
"""


@dataclass
class FragmentSet:
    """The fragments of one phase and which of their rows have their final fate there."""

    phase: int
    urls: list[str]
    last: bool


def _sql_list(urls: list[str]) -> str:
    return "[" + ", ".join("'" + u.replace("'", "''") + "'" for u in urls) + "]"


# Rows a reader adds about a file rather than a record of it: a cut or damaged file, or one
# that could not be read at all (pipeline/engine/unreadable.py). They carry the file's fate
# to the outputs and the report, but are not records: ``inputs.records`` leaves them out.
FILE_REASONS = ("truncated_file", "invalid_warc", "unreadable_file")
FILE_ROW = (
    "(stage = 'read' AND fate = 'quarantined' AND reason IN ("
    + ", ".join(f"'{r}'" for r in FILE_REASONS)
    + "))"
)
FILE_STATUS = (
    "CASE reason WHEN 'unreadable_file' THEN 'unreadable' WHEN 'truncated_file' THEN "
    "'truncated' ELSE 'damaged' END"
)

_NUMERIC = re.compile(
    r"^(BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|"
    r"FLOAT|DOUBLE|DECIMAL.*)$"
)
# engine and reader columns that already have their place in `documents`
_BASE_COLUMNS = {f.name for f in DOCUMENT_SCHEMA} | {"_n_chars", "_n_bytes", "_text_hash"}


def _columns(con: duckdb.DuckDBPyConnection, urls: list[str]) -> dict[str, str]:
    rows = con.execute(
        f"DESCRIBE SELECT * FROM read_parquet({_sql_list(urls)}, union_by_name=true)"
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def signal_columns(
    con: duckdb.DuckDBPyConnection, sets: list[FragmentSet], declared: list[str]
) -> list[str]:
    """Columns lineage records besides its own: every numeric or boolean column a stage
    added (a number cannot carry document text) and the string columns stages declared in
    ``lineage_columns`` (labels such as ``language``)."""
    found: set[str] = set()
    for fs in sets:
        if fs.urls:
            for name, dtype in _columns(con, fs.urls).items():
                if name not in _BASE_COLUMNS and _NUMERIC.match(dtype):
                    found.add(name)
                elif name in declared:
                    found.add(name)
    return sorted(found)


def documents_query(
    con: duckdb.DuckDBPyConnection, sets: list[FragmentSet], extra_columns: list[str]
) -> str:
    parts = []
    for fs in sets:
        if not fs.urls:
            continue
        present = _columns(con, fs.urls)
        extras = ", ".join((f'"{c}"' if c in present else f'NULL AS "{c}"') for c in extra_columns)
        where = "" if fs.last else "WHERE _fate IS NOT NULL"
        parts.append(
            f"""SELECT id AS doc_id, source_path, source_index, source_line, source_offset,
                coalesce(_fate, 'kept') AS fate, _stage AS stage, _reason AS reason,
                _detail AS detail, _error AS error, _n_chars AS n_chars, _n_bytes AS n_bytes,
                _text_hash AS text_hash, {fs.phase} AS phase{", " + extras if extras else ""}
            FROM read_parquet({_sql_list(fs.urls)}, union_by_name=true) {where}"""
        )
    return " UNION ALL BY NAME ".join(parts)


def write_lineage(
    out_dir: str,
    run_row: dict[str, Any],
    inputs: pa.Table,
    stage_rows: list[dict[str, Any]],
    outputs: pa.Table,
    doc_outputs: pa.Table | None,
    sets: list[FragmentSet],
    extra_columns: list[str],
) -> str:
    """Build ``OUT/lineage.duckdb`` (atomically: a copy is updated, then renamed)."""
    final = os.path.join(out_dir, LINEAGE_FILE)
    tmp = final + ".tmp"
    if os.path.exists(tmp):
        os.remove(tmp)
    if os.path.exists(final):
        shutil.copyfile(final, tmp)
    con = duckdb.connect(tmp)
    try:
        register_remote_filesystems(con, [u for fs in sets for u in fs.urls[:1]])
        con.execute(SCHEMA_SQL)
        con.execute("DELETE FROM runs WHERE run_id = ?", [run_row["run_id"]])
        con.execute("DELETE FROM stage_stats WHERE run_id = ?", [run_row["run_id"]])
        insert_run(con, run_row)
        for row in stage_rows:
            insert_stage_row(con, row)
        con.register("inputs_arrow", inputs)
        con.execute("CREATE OR REPLACE TABLE inputs AS SELECT * FROM inputs_arrow")
        con.register("outputs_arrow", outputs)
        con.execute("CREATE OR REPLACE TABLE outputs AS SELECT * FROM outputs_arrow")
        if doc_outputs is not None:
            con.register("doc_outputs_arrow", doc_outputs)
            con.execute("CREATE OR REPLACE TABLE doc_outputs AS SELECT * FROM doc_outputs_arrow")
        query = documents_query(con, sets, signal_columns(con, sets, extra_columns))
        if query:
            con.execute(f"CREATE OR REPLACE TABLE documents AS {query}")
        else:
            con.execute(
                "CREATE OR REPLACE TABLE documents (doc_id VARCHAR, source_path VARCHAR, "
                "source_index BIGINT, source_line BIGINT, source_offset BIGINT, fate VARCHAR, "
                "stage VARCHAR, reason VARCHAR, detail VARCHAR, error VARCHAR, n_chars BIGINT, "
                "n_bytes BIGINT, text_hash VARCHAR, phase INTEGER)"
            )
        fill_stage_totals(con, run_row["run_id"], stage_rows)
        # per-input fates over every phase (global stages reject after phase 0)
        # a reader's row about the file itself (cut, damaged, unreadable) is not a record
        con.execute(
            f"""UPDATE inputs SET kept = f.kept, rejected = f.rejected,
                quarantined = f.quarantined, records = inputs.records - f.file_rows,
                status = coalesce(f.file_status, inputs.status)
            FROM (SELECT source_path, count(*) FILTER (WHERE fate = 'kept') AS kept,
                         count(*) FILTER (WHERE fate = 'rejected') AS rejected,
                         count(*) FILTER (WHERE fate = 'quarantined' AND NOT {FILE_ROW})
                             AS quarantined,
                         count(*) FILTER (WHERE {FILE_ROW}) AS file_rows,
                         max({FILE_STATUS}) FILTER (WHERE {FILE_ROW}) AS file_status
                  FROM documents GROUP BY source_path) f
            WHERE f.source_path = inputs.path"""
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, final)
    return final


def insert_run(con: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> None:
    """Insert ``row`` into ``runs`` by column name (the table may have more columns)."""
    cols = ", ".join(row)
    con.execute(f"INSERT INTO runs ({cols}) VALUES ({', '.join('$' + c for c in row)})", row)


def insert_stage_row(con: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> None:
    """Insert a ``stage_stats`` row by column name; ``rejects`` and ``metrics`` as JSON (a
    stage without metrics of its own, e.g. every stage on a CPU, has NULL ``metrics``)."""
    row = {**row, "rejects": json.dumps(row["rejects"])}
    if row.get("metrics") is not None:
        row["metrics"] = json.dumps(row["metrics"], sort_keys=True)
    cols = ", ".join(row)
    con.execute(f"INSERT INTO stage_stats ({cols}) VALUES ({', '.join('$' + c for c in row)})", row)


@contextmanager
def _updated_lineage(out_dir: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to ``OUT/lineage.duckdb`` (created when there is none yet) whose changes
    are one transaction; on object storage, a local copy uploaded when the block ends."""
    staging = local_lineage_dir(out_dir)
    os.makedirs(staging, exist_ok=True)
    con = duckdb.connect(os.path.join(staging, LINEAGE_FILE))
    try:
        con.execute(SCHEMA_SQL)
        con.execute("BEGIN TRANSACTION")
        yield con
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    upload_lineage(staging, out_dir)


def start_run(out_dir: str, run_row: dict[str, Any]) -> None:
    """Record a run as ``running`` before it does any work, so a killed run leaves its row.

    A run still ``running`` from before was killed (it never got to finish its row): it
    becomes ``interrupted``; this run resumes its work.
    """
    with _updated_lineage(out_dir) as con:
        con.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
        con.execute("DELETE FROM runs WHERE run_id = ?", [run_row["run_id"]])
        insert_run(con, {**run_row, "status": "running"})


def finish_run(out_dir: str, run_id: str, status: str, error: str | None) -> None:
    """Close a run's row that did not end ``ok`` (``failed`` or ``interrupted``)."""
    with _updated_lineage(out_dir) as con:
        con.execute(
            "UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE run_id = ?",
            [status, error, datetime.now(UTC).replace(tzinfo=None), run_id],
        )


def register_remote_filesystems(con: duckdb.DuckDBPyConnection, urls: list[str]) -> None:
    """Let DuckDB read fragments on object storage through fsspec.

    DuckDB's own ``httpfs`` extension is downloaded on first use, which an offline cluster
    cannot do; the fsspec filesystem the workers wrote with is already installed.
    """
    from corpusforge.pipeline.io import fsutil

    seen: set[str] = set()
    for url in urls:
        if not fsutil.is_remote(url):
            continue
        fs, _ = fsutil.get_fs(url)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        if protocol not in seen:
            con.register_filesystem(fs)
            seen.add(protocol)


def local_lineage_dir(out_dir: str) -> str:
    """Where the driver builds ``lineage.duckdb``: the output folder, or a local staging
    folder when the output is on object storage (a DuckDB file needs random-access writes).

    The staging copy starts from the remote file, so the run history carries on; it is
    uploaded by :func:`upload_lineage` when the run ends.
    """
    from corpusforge.pipeline.io import fsutil

    if not fsutil.is_remote(out_dir):
        return out_dir
    staging = tempfile.mkdtemp(prefix="corpusforge-lineage-")
    remote = fsutil.join(out_dir, LINEAGE_FILE)
    if fsutil.exists(remote):
        fsutil.download_file(remote, os.path.join(staging, LINEAGE_FILE))
    return staging


def upload_lineage(lineage_dir: str, out_dir: str) -> list[str]:
    """Upload what the driver wrote in a staging folder (lineage, report) to ``out_dir``,
    atomically per file, then remove the staging folder. No-op for local outputs."""
    from corpusforge.pipeline.io import fsutil

    if lineage_dir == out_dir:
        return []
    uploaded = []
    for name in sorted(os.listdir(lineage_dir)):
        local = os.path.join(lineage_dir, name)
        if not os.path.isfile(local) or name.endswith(".tmp") or name.endswith(".wal"):
            continue
        fsutil.upload_file(local, fsutil.join(out_dir, name))
        uploaded.append(name)
    shutil.rmtree(lineage_dir, ignore_errors=True)
    return uploaded


def fill_stage_totals(
    con: duckdb.DuckDBPyConnection, run_id: str, stage_rows: list[dict[str, Any]]
) -> None:
    """Totals over every document (resumed runs included), from the documents table."""
    total = con.execute(
        "SELECT count(*) FROM documents WHERE stage IS DISTINCT FROM 'read'"
    ).fetchone()[0]
    remaining = total
    for row in sorted(stage_rows, key=lambda r: r["position"]):
        if row["kind"] in ENGINE_STEPS:  # reading, writing: not a stage
            continue
        rejected = con.execute(
            "SELECT count(*) FROM documents WHERE stage = ? AND fate = 'rejected'", [row["stage"]]
        ).fetchone()[0]
        con.execute(
            "UPDATE stage_stats SET docs_in_total = ?, docs_rejected_total = ? "
            "WHERE run_id = ? AND stage = ?",
            [remaining, rejected, run_id, row["stage"]],
        )
        remaining -= rejected


def check_conservation(lineage_path: str) -> list[str]:
    """Every record of every input ends exactly once as kept, rejected or quarantined."""
    con = duckdb.connect(lineage_path, read_only=True)
    try:
        rows = con.execute(
            f"""
            WITH seen AS (
                SELECT source_path, count(*) FILTER (WHERE NOT {FILE_ROW}) AS n,
                       count(*) AS n_all, count(DISTINCT source_index) AS n_distinct,
                       count(*) FILTER (WHERE fate NOT IN
                               ('kept', 'rejected', 'quarantined', 'forgotten'))
                           AS bad_fate
                FROM documents GROUP BY source_path)
            SELECT i.path, i.records, coalesce(s.n, 0), coalesce(s.n_distinct, 0),
                   coalesce(s.bad_fate, 0)
            FROM inputs i LEFT JOIN seen s ON s.source_path = i.path
            WHERE i.records IS DISTINCT FROM coalesce(s.n, 0)
               OR coalesce(s.n_all, 0) <> coalesce(s.n_distinct, 0)
               OR coalesce(s.bad_fate, 0) > 0
            ORDER BY i.path LIMIT 20
            """
        ).fetchall()
        strays = con.execute(
            "SELECT count(*) FROM documents WHERE source_path NOT IN (SELECT path FROM inputs)"
        ).fetchone()[0]
    finally:
        con.close()
    problems = [
        f"{path}: read {records} records, lineage has {n} ({n_distinct} distinct, "
        f"{bad} without a final fate)"
        for path, records, n, n_distinct, bad in rows
    ]
    if strays:
        problems.append(f"{strays} documents in lineage come from no known input")
    return problems


def assert_conservation(lineage_path: str) -> None:
    problems = check_conservation(lineage_path)
    if problems:
        raise ConservationError(
            "conservation check failed: " + "; ".join(problems[:5]),
            hint="a stage or reader lost or duplicated documents; see lineage.duckdb",
        )


def add_output_file(lineage_path: str, kind: str, local: str, out_dir: str) -> None:
    """Add a file the driver wrote beside lineage (the report) to ``outputs``, under the
    path it will have in ``out_dir`` (the staging copy is uploaded there)."""
    from corpusforge.pipeline.io import fsutil

    checksum, size = fsutil.file_checksum(local)
    path = fsutil.join(out_dir, os.path.basename(local))
    con = duckdb.connect(lineage_path)
    try:
        con.execute("DELETE FROM outputs WHERE path = ?", [path])
        con.execute(
            "INSERT INTO outputs (kind, path, rows, bytes, checksum) VALUES (?, ?, NULL, ?, ?)",
            [kind, path, size, checksum],
        )
    finally:
        con.close()


def set_run_status(lineage_path: str, run_id: str, status: str, error: str | None) -> None:
    con = duckdb.connect(lineage_path)
    try:
        con.execute(
            "UPDATE runs SET status = ?, error = ? WHERE run_id = ?", [status, error, run_id]
        )
    finally:
        con.close()

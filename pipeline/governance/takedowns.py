"""The takedown record of an output: ``OUT/takedowns/``, mirrored into lineage.

One request is ``<id>.json`` (who, when, reason, selector kinds with value counts and hashes,
counts, status) and ``<id>.parquet`` (the forgotten documents: id, text hash, normalized-text
hash; never text). The folder outlives a ``--no-resume`` re-run that rebuilds lineage, and any
later run reads it to refuse the documents again. ``<id>.staging/`` holds a request's new
files until they are all in place (see :mod:`corpusforge.pipeline.governance.forget`).
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pyarrow as pa

from corpusforge.pipeline.io import fsutil

TAKEDOWN_DIR = "takedowns"
STAGING = ".staging"
STATUS_STAGING, STATUS_COMMITTING, STATUS_DONE = "staging", "committing", "done"

FORGOTTEN_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("text_hash", pa.string()),
        ("norm_hash", pa.string()),
        ("prior_fate", pa.string()),
        ("request_id", pa.string()),
    ]
)
COUNT_FIELDS = (
    "documents",
    "kept",
    "rejected",
    "data_shards",
    "token_shards",
    "rejected_shards",
    "checkpoints",
    "not_found",
)
TAKEDOWNS_SQL = (
    "CREATE OR REPLACE TABLE takedowns (request_id VARCHAR, status VARCHAR, "
    "requested_by VARCHAR, host VARCHAR, created_at TIMESTAMP, finished_at TIMESTAMP, "
    "reason VARCHAR, selector_kinds VARCHAR, selectors JSON, "
    + ", ".join(f"{c} BIGINT" for c in COUNT_FIELDS)
    + ")"
)


def folder(out_dir: str) -> str:
    return fsutil.join(out_dir, TAKEDOWN_DIR)


def manifest_url(out_dir: str, rid: str) -> str:
    return fsutil.join(folder(out_dir), f"{rid}.json")


def docs_url(out_dir: str, rid: str) -> str:
    return fsutil.join(folder(out_dir), f"{rid}.parquet")


def staging_url(out_dir: str, rid: str) -> str:
    return fsutil.join(folder(out_dir), rid + STAGING)


def write_manifest(out_dir: str, manifest: dict[str, Any]) -> None:
    data = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()
    fsutil.atomic_write_bytes(manifest_url(out_dir, manifest["request_id"]), data)


def requests(out_dir: str) -> list[dict[str, Any]]:
    """Every request of the output, oldest first."""
    found = [json.loads(fsutil.read_bytes(u)) for u in fsutil.listdir(folder(out_dir), ".json")]
    return sorted(found, key=lambda m: (m.get("created_at") or "", m["request_id"]))


def forgotten(out_dir: str) -> pa.Table:
    """The documents every finished request of ``out_dir`` took out."""
    tables = [
        fsutil.read_parquet(docs_url(out_dir, m["request_id"]))
        for m in requests(out_dir)
        if m["status"] == STATUS_DONE and fsutil.exists(docs_url(out_dir, m["request_id"]))
    ]
    if not tables:
        return FORGOTTEN_SCHEMA.empty_table()
    return pa.concat_tables([t.cast(FORGOTTEN_SCHEMA) for t in tables])


def sync_lineage(con: duckdb.DuckDBPyConnection, out_dir: str) -> None:
    """(Re)build the ``takedowns`` and ``forgotten`` tables from ``OUT/takedowns``."""
    con.execute(TAKEDOWNS_SQL)
    for m in requests(out_dir):
        counts = m.get("counts") or {}
        con.execute(
            f"INSERT INTO takedowns VALUES ({', '.join(['?'] * (9 + len(COUNT_FIELDS)))})",
            [
                m["request_id"],
                m["status"],
                m.get("requested_by"),
                m.get("host"),
                m.get("created_at"),
                m.get("finished_at"),
                m.get("reason"),
                ",".join(m.get("selector_kinds") or []),
                json.dumps(m.get("selectors") or {}),
                *[counts.get(c) for c in COUNT_FIELDS],
            ],
        )
    con.register("forgotten_arrow", forgotten(out_dir))
    con.execute("CREATE OR REPLACE TABLE forgotten AS SELECT * FROM forgotten_arrow")
    con.unregister("forgotten_arrow")


def sync_lineage_file(lineage_path: str, out_dir: str) -> None:
    con = duckdb.connect(lineage_path)
    try:
        sync_lineage(con, out_dir)
    finally:
        con.close()

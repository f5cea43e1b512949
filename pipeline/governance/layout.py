"""Where a finished output's files are now, and its lineage.

Lineage records output paths as the run wrote them; an output folder copied or moved since
still works: a recorded path is mapped to the same relative path under the folder given.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb

from corpusforge.pipeline.api.errors import CorpusforgeError
from corpusforge.pipeline.engine.outputs import OUTPUT_DIRS
from corpusforge.pipeline.io import fsutil
from corpusforge.pipeline.lineage import store

WORK_DIR = "_work"


@dataclass
class SinkSpec:
    name: str  # the ``output`` of its doc_outputs rows
    kind: str
    url: str  # its folder under the output
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Layout:
    out_dir: str
    root_then: str | None  # the output folder as the recorded paths spell it
    sinks: dict[str, SinkSpec]
    config: dict[str, Any]

    def rel(self, recorded: str) -> str:
        """The path of a recorded output relative to the output folder."""
        if self.root_then and recorded.startswith(self.root_then.rstrip("/") + "/"):
            return recorded[len(self.root_then.rstrip("/")) + 1 :]
        return "/".join(recorded.replace("\\", "/").split("/")[-2:])

    def url(self, recorded: str) -> str:
        return fsutil.join(self.out_dir, *self.rel(recorded).split("/"))

    def data_url(self, shard: str) -> str:
        return fsutil.join(self.out_dir, OUTPUT_DIRS["kept"], shard)

    def work_url(self) -> str:
        return fsutil.join(self.out_dir, WORK_DIR)


def normalize_out(out_dir: str) -> str:
    return out_dir if fsutil.is_remote(out_dir) else os.path.abspath(out_dir)


def lineage_path(out_dir: str) -> str:
    path = fsutil.join(out_dir, store.LINEAGE_FILE)
    if not fsutil.exists(path):
        raise CorpusforgeError(
            f"no lineage at {path}", hint="give the output folder of a finished run"
        )
    return path


@contextmanager
def lineage(out_dir: str, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the output's lineage; on object storage a local copy, uploaded after
    a write."""
    lineage_path(out_dir)
    local_dir = store.local_lineage_dir(out_dir)
    con = duckdb.connect(os.path.join(local_dir, store.LINEAGE_FILE), read_only=not write)
    try:
        yield con
    finally:
        con.close()
        if local_dir != out_dir:
            if write:
                store.upload_lineage(local_dir, out_dir)
            else:
                import shutil

                shutil.rmtree(local_dir, ignore_errors=True)


def tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SHOW TABLES").fetchall()}


def last_config(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    rows = con.execute(
        "SELECT config FROM runs WHERE status = 'ok' ORDER BY finished_at DESC NULLS LAST LIMIT 1"
    ).fetchall()
    if not rows:
        raise CorpusforgeError("the output has no finished run", hint="run the pipeline first")
    value = rows[0][0]
    return json.loads(value) if isinstance(value, str) else dict(value)


def load_layout(out_dir: str, con: duckdb.DuckDBPyConnection) -> Layout:
    config = last_config(con)
    sinks: dict[str, SinkSpec] = {}
    for sc in (config.get("output") or {}).get("sinks") or []:
        kind = sc["kind"]
        url = fsutil.join(out_dir, *(sc.get("path") or kind).split("/"))
        sinks[kind] = SinkSpec(kind, kind, url, dict(sc.get("params") or {}))
    return Layout(out_dir, _root_then(con), sinks, config)


def _root_then(con: duckdb.DuckDBPyConnection) -> str | None:
    """The output folder the recorded paths start with (from any data/rejected shard)."""
    for kind, sub in OUTPUT_DIRS.items():
        rows = con.execute("SELECT path FROM outputs WHERE kind = ? LIMIT 1", [kind]).fetchall()
        if rows:
            path = rows[0][0].replace("\\", "/")
            tail = f"/{sub}/" + path.rsplit("/", 1)[-1]
            if path.endswith(tail):
                return path[: -len(tail)]
    return None

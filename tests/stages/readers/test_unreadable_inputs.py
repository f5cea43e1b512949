"""One bad input file never stops a run: it becomes one quarantined unit, the rest goes on.

Real files: a plain JSONL named ``.jsonl.gz``, binary data named ``.jsonl``, garbage named
``.parquet``, a cut gzip, and a good file, run through the engine on a local Ray.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from corpusforge.cli.main import app
from corpusforge.pipeline.engine.unreadable import UNREADABLE_FILE, read_guarded
from corpusforge.stages.readers.jsonl import JsonlReader

UNREADABLE = ("blob.jsonl", "bad.parquet", "y.jsonl.gz")
_STAMP = re.compile(r"^\d\d:\d\d:\d\d ")


def jsonl(rows: list[dict]) -> bytes:
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


def make_inputs(inp: Path) -> int:
    """The input folder; returns how many lines of the cut gzip can be read."""
    inp.mkdir()
    good = [{"id": f"g{i}", "text": f"good record number {i}"} for i in range(4)]
    good.insert(2, {"id": "own-3", "text": 5})  # quarantined, keeps its own id
    (inp / "good.jsonl").write_bytes(jsonl(good))
    (inp / "y.jsonl.gz").write_bytes(jsonl(good[:2]))  # not gzip at all
    rng_bytes = bytes((i * 7919 + 13) % 256 for i in range(3000))
    (inp / "blob.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n" + rng_bytes)
    (inp / "bad.parquet").write_bytes(b"this is not a parquet file at all" * 10)
    lines = jsonl([{"id": f"c{i}", "text": f"cut file line {i} " * 8} for i in range(400)])
    packed = gzip.compress(lines)
    cut = packed[: len(packed) // 2]
    (inp / "cut.jsonl.gz").write_bytes(cut)
    readable = zlib.decompressobj(wbits=31).decompress(cut)
    return readable.count(b"\n")


@pytest.mark.usefixtures("ray_session")
def test_unreadable_files_are_quarantined_units_and_the_run_goes_on(tmp_path: Path) -> None:
    cut_lines = make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    cfg = {
        "input": {"paths": [str(tmp_path / "in")], "options": {"id_field": "id"}},
        "output": {"path": str(out)},
        "stages": [{"length_filter": {"min_chars": 1}}],
        "ray": {"progress": False},
    }
    (tmp_path / "run.yaml").write_text(json.dumps(cfg))
    res = CliRunner().invoke(app, ["run", str(tmp_path / "run.yaml"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    for name in UNREADABLE:
        # one warning line per file; plain progress lines (not a terminal) carry a time stamp
        warned = [
            ln
            for ln in res.output.splitlines()
            if _STAMP.sub("", ln).startswith(f"{name}: unreadable")
        ]
        assert len(warned) == 1, res.output
        assert any(ln.startswith("damaged input") and name in ln for ln in res.output.splitlines())

    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    try:
        inputs = {
            Path(p).name: (st, rec, k, r, q)
            for p, st, rec, k, r, q in con.execute(
                "SELECT path, status, records, kept, rejected, quarantined FROM inputs"
            ).fetchall()
        }
        own = con.execute("SELECT fate, reason FROM documents WHERE doc_id = 'own-3'").fetchall()
        status = con.execute("SELECT status FROM runs").fetchone()[0]
    finally:
        con.close()
    assert status == "ok"  # conservation held
    for name in UNREADABLE:
        assert inputs[name] == ("unreadable", 0, 0, 0, 0), name
    assert inputs["good.jsonl"] == ("done", 5, 4, 0, 1)
    st, records, kept, rejected, quarantined = inputs["cut.jsonl.gz"]
    assert (st, records) == ("truncated", cut_lines) and 0 < cut_lines < 400
    assert kept + rejected + quarantined == records  # the truncation marker is no record
    assert own == [("quarantined", "non_string_text")]

    quarantine = pq.read_table(out / "quarantine").to_pylist()
    units = {Path(r["source_path"]).name: r for r in quarantine if r["reason"] == UNREADABLE_FILE}
    assert sorted(units) == sorted(UNREADABLE)
    for name, row in units.items():
        assert row["error"].startswith(f"{name}: unreadable file: ")
        assert "b'" not in row["error"] and str(tmp_path) not in row["error"]
    assert "gzip" in units["y.jsonl.gz"]["error"].lower()
    assert "not UTF-8 text" in units["blob.jsonl"]["error"]
    html = (out / "report.html").read_text()
    assert all(name in html for name in UNREADABLE)

    # a re-run tries the unreadable files again (they may have been fixed) and reads them
    (tmp_path / "in" / "y.jsonl.gz").write_bytes(gzip.compress(jsonl([{"text": "fixed now"}])))
    res = CliRunner().invoke(app, ["run", str(tmp_path / "run.yaml"), "--quiet"])
    assert res.exit_code == 0, res.output
    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    try:
        fixed = con.execute(
            "SELECT status, records, kept FROM inputs WHERE path LIKE '%y.jsonl.gz'"
        ).fetchone()
    finally:
        con.close()
    assert fixed == ("done", 1, 1)


class _DeniedReader(JsonlReader):
    """The reader as it meets a file it may not open (what open() raises without read
    permission); used where the tests run as root, for whom chmod 000 changes nothing."""

    def read(self, path: str):  # type: ignore[override]
        raise PermissionError(13, "Permission denied", path)
        yield  # pragma: no cover


def test_permission_denied_is_one_quarantined_row(tmp_path: Path) -> None:
    path = tmp_path / "secret" / "locked.jsonl"
    path.parent.mkdir()
    path.write_bytes(jsonl([{"text": "x"}]))
    path.chmod(0)
    readers = [_DeniedReader()] if os.geteuid() == 0 else [JsonlReader(), _DeniedReader()]
    for reader in readers:
        (table,) = list(read_guarded(reader, str(path)))
        row = table.to_pylist()[0]
        assert (row["_fate"], row["_reason"], row["source_index"]) == (
            "quarantined",
            UNREADABLE_FILE,
            0,
        )
        assert row["_error"] == (
            "locked.jsonl: unreadable file: PermissionError: [Errno 13] "
            "Permission denied: 'locked.jsonl'"
        )
        assert reader.stats["unreadable"].startswith("PermissionError")

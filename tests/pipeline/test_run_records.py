"""Lineage records what a run did, from its start: the ``runs`` row and every output file."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from engine_helpers import write_lines

from corpusforge.pipeline.api.errors import StageContractError
from corpusforge.pipeline.backends.ray.executor import RayExecutor
from corpusforge.pipeline.engine.runner import Pipeline
from corpusforge.pipeline.io import fsutil
from corpusforge.pipeline.lineage import store

pytestmark = pytest.mark.usefixtures("ray_session")


def make_input(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    write_lines(tmp_path / "in" / "a.lines", ["three words here", "two words"])
    return tmp_path / "in"


def lines_config(inp: Path, out: Path, *stages: dict | str) -> dict:
    return {
        "input": {"paths": [str(inp)], "format": "test-lines"},
        "output": {"path": str(out)},
        "stages": list(stages) or [{"test_min_words": {"min_words": 3}}],
        "ray": {"progress": False},
    }


def runs(out: Path) -> list[tuple]:
    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT run_id, status, error, finished_at IS NOT NULL FROM runs ORDER BY started_at"
        ).fetchall()
    finally:
        con.close()


class WatchingExecutor(RayExecutor):
    """The Ray executor, noting what lineage says about the run when the executor starts."""

    seen: list[tuple] = []
    provenance: dict = {}

    def start(self) -> None:
        out = Path(self._cfg.output.path)
        WatchingExecutor.seen = runs(out)
        con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
        try:
            WatchingExecutor.provenance = json.loads(
                con.execute("SELECT provenance FROM runs").fetchone()[0]
            )
        finally:
            con.close()
        super().start()


def test_runs_row_is_written_at_start_then_closed(tmp_path: Path) -> None:
    cfg = lines_config(make_input(tmp_path), tmp_path / "out")
    pipe = Pipeline(cfg)
    pipe._executor = WatchingExecutor(pipe.config)
    result = pipe.run()
    assert [(r[0], r[1], r[3]) for r in WatchingExecutor.seen] == [
        (result.run_id, "running", False)
    ]
    # a run killed now would still say what it ran with
    assert WatchingExecutor.provenance["libraries"]
    assert runs(tmp_path / "out") == [(result.run_id, "ok", None, True)]


def test_failed_run_and_killed_run_leave_their_rows(tmp_path: Path) -> None:
    out = tmp_path / "out"
    make_input(tmp_path)
    # what a run killed with SIGKILL leaves: its `running` row and nothing after it
    store.start_run(
        str(out), {"run_id": "killed-1", "started_at": datetime(2020, 1, 1), "config": "{}"}
    )
    with pytest.raises(StageContractError):
        Pipeline(lines_config(tmp_path / "in", out, "test_drop_rows")).run()
    rows = runs(out)
    assert rows[0] == ("killed-1", "interrupted", None, False)
    assert rows[1][1:] == ("failed", rows[1][2], True)
    assert "test_drop_rows" in rows[1][2] and "three words" not in rows[1][2]
    ok = Pipeline(lines_config(tmp_path / "in", out)).run()
    assert [r[1] for r in runs(out)] == ["interrupted", "failed", "ok"]
    assert runs(out)[2][0] == ok.run_id


def test_every_output_file_is_in_outputs_with_its_checksum(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    lines = [
        json.dumps({"id": f"d{i}", "text": f"document {i} with words" + " more" * (i % 3)})
        for i in range(9)
    ]
    (inp / "a.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    cfg = {
        "input": {"paths": [str(inp)]},
        "output": {
            "path": str(out),
            "drop_columns": ["input_ids"],
            "sinks": [{"kind": "megatron", "path": "tokens", "params": {"tokenizer": "gpt2"}}],
        },
        "stages": [{"length_filter": {"min_chars": 22}}, {"tokenize": {"tokenizer": "gpt2"}}],
        "ray": {"progress": False},
    }
    Pipeline(cfg).run()
    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT kind, path, rows, bytes, checksum FROM outputs").fetchall()
    finally:
        con.close()
    listed = {Path(p).relative_to(out).as_posix(): (k, r, b, c) for k, p, r, b, c in rows}
    on_disk = {
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and "_work" not in p.parts and p.name != "lineage.duckdb"
    }
    assert set(listed) == on_disk
    assert {"tokens/part-00000.bin", "tokens/part-00000.idx", "tokens/tokenizer.json"} <= on_disk
    assert "report.html" in on_disk and listed["report.html"][0] == "report"
    for rel, (_, _, size, checksum) in listed.items():
        assert (checksum, size) == fsutil.file_checksum(str(out / rel)), rel
    kept = listed["data/part-00000.parquet"][1]
    assert listed["tokens/part-00000.bin"][:2] == ("megatron", kept)
    assert listed["tokens/tokenizer.json"][:2] == ("megatron", None)

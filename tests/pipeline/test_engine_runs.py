"""End-to-end runs of the engine on a local Ray: outputs, lineage, conservation, resume."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from engine_helpers import lineage_rows, start_cli_run, write_lines

from corpusforge.pipeline.api.errors import StageContractError
from corpusforge.pipeline.engine.runner import Pipeline


def make_inputs(folder: Path, files: int = 3, lines: int = 40) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(files):
        rows = [
            f"file {k} line {i} has enough words" if i % 5 else f"short{i}" for i in range(lines)
        ]
        rows.insert(lines // 2, "!unreadable")
        write_lines(folder / f"part{k}.lines", rows)


def config(inp: Path, out: Path, *stages: dict | str) -> dict:
    return {
        "input": {"paths": [str(inp)], "format": "test-lines", "options": {"batch_rows": 16}},
        "output": {"path": str(out), "shard_size_mb": 0.0015},
        "stages": list(stages) or [{"test_min_words": {"min_words": 3}}, "test_upper"],
        "ray": {"progress": False},
    }


def parquet_rows(folder: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in sorted(folder.glob("*.parquet")))


def ids(folder: Path) -> list[str]:
    if not folder.exists() or not any(folder.glob("*.parquet")):
        return []
    con = duckdb.connect()
    rows = con.execute(f"SELECT id FROM read_parquet('{folder}/*.parquet') ORDER BY id").fetchall()
    return [r[0] for r in rows]


@pytest.mark.usefixtures("ray_session")
def test_run_writes_outputs_lineage_and_holds_conservation(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    result = Pipeline(config(tmp_path / "in", out)).run()

    assert result.records == 3 * 41
    assert result.quarantined == 3
    assert result.rejected == 3 * 8  # every 5th line is one word
    assert result.kept == 3 * 41 - 3 - 24
    assert parquet_rows(out / "data") == result.kept
    assert parquet_rows(out / "rejected") == result.rejected
    assert parquet_rows(out / "quarantine") == result.quarantined
    assert len(list((out / "data").glob("*.parquet"))) > 1  # shard target respected

    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    fates = dict(con.execute("SELECT fate, count(*) FROM documents GROUP BY 1").fetchall())
    assert fates == {"kept": result.kept, "rejected": 24, "quarantined": 3}
    (err,) = con.execute(
        "SELECT error FROM documents WHERE fate = 'quarantined' LIMIT 1"
    ).fetchone()
    assert "line 21" in err and ".lines" in err
    (detail, counted) = con.execute(
        "SELECT detail, word_count FROM documents WHERE reason = 'too_few_words' LIMIT 1"
    ).fetchone()
    assert detail == "1" and counted == 1
    assert con.execute("SELECT count(*) FROM inputs WHERE checksum IS NOT NULL").fetchone()[0] == 3
    stats = con.execute(
        "SELECT stage, docs_in_total, docs_rejected_total FROM stage_stats ORDER BY position"
    ).fetchall()
    assert stats == [
        ("read", None, None),
        ("test_min_words", 120, 24),
        ("test_upper", 96, 0),
        ("write", None, None),  # no PII stage: no redact_rejected step
    ]
    # reading has its own counters: records, file bytes in, text bytes out, seconds
    read = con.execute(
        "SELECT kind, docs_in, bytes_in, bytes_out, seconds FROM stage_stats WHERE stage = 'read'"
    ).fetchone()
    assert read[0] == "read" and read[1] == 123 and read[2] > read[3] * 0 and read[3] > 0
    assert read[4] is not None
    (n_out,) = con.execute("SELECT count(*) FROM doc_outputs WHERE output = 'data'").fetchone()
    assert n_out == result.kept
    outputs = con.execute("SELECT kind, sum(rows) FROM outputs GROUP BY 1 ORDER BY 1").fetchall()
    assert outputs == [
        ("kept", result.kept),
        ("quarantined", 3),
        ("rejected", 24),
        ("report", None),
    ]
    # lineage holds no document text
    texts = {r[0] for r in duckdb.sql(f"SELECT text FROM '{out}/data/*.parquet'").fetchall()}
    dumped = str(con.execute("SELECT * FROM documents").fetchall())
    assert not any(t in dumped for t in list(texts)[:20])
    # kept text went through the stateful stage
    assert all(t == t.translate(str.maketrans("abc", "ABC")) for t in texts)


@pytest.mark.usefixtures("ray_session")
def test_stage_that_drops_rows_fails_the_run(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", files=1)
    cfg = config(tmp_path / "in", tmp_path / "out", "test_drop_rows")
    with pytest.raises(StageContractError, match=r"test_drop_rows.*reject"):
        Pipeline(cfg).run()


@pytest.mark.usefixtures("ray_session")
def test_rerun_skips_done_units_and_new_files_are_incremental(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", files=2)
    out = tmp_path / "out"
    first = Pipeline(config(tmp_path / "in", out)).run()
    again = Pipeline(config(tmp_path / "in", out)).run()
    assert (again.units_processed, again.units_skipped) == (0, 2)
    assert ids(out / "data") == ids(out / "data") and again.kept == first.kept

    write_lines(tmp_path / "in" / "part9.lines", ["a brand new file with words"] * 5)
    third = Pipeline(config(tmp_path / "in", out)).run()
    assert (third.units_processed, third.units_skipped) == (1, 2)
    assert third.kept == first.kept + 5
    assert third.stages[0]["docs_in"] == 5  # only the new file went through the stages
    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 3


@pytest.mark.usefixtures("ray_session")
def test_no_resume_starts_over(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", files=1)
    out = tmp_path / "out"
    Pipeline(config(tmp_path / "in", out)).run()
    again = Pipeline(config(tmp_path / "in", out), resume=False).run()
    assert again.units_processed == 1


SLOW_CONFIG = """\
plugins: [engine_helpers]
input:
  paths: [{inp}]
  format: test-lines
  options: {{batch_rows: 10}}
output:
  path: {out}
  shard_size_mb: 0.003
stages:
  - test_min_words: {{min_words: 3}}
  - test_sleep: {{seconds: 0.4}}
ray:
  num_cpus: 2
  progress: false
"""


@pytest.mark.slow
def test_kill_9_of_the_driver_then_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", files=8, lines=30)
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    for name, out in (("clean", clean), ("crashed", crashed)):
        (tmp_path / f"{name}.yaml").write_text(SLOW_CONFIG.format(inp=tmp_path / "in", out=out))

    proc = start_cli_run(tmp_path / "crashed.yaml")
    journal = crashed / "_work" / "phase0" / "_journal"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(journal.glob("*.json"))) < 2:
        time.sleep(0.2)
    committed = len(list(journal.glob("*.json")))
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and everything it started
    proc.wait()
    assert 2 <= committed < 8, "the kill must land mid-run"

    rerun = start_cli_run(tmp_path / "crashed.yaml")
    log, _ = rerun.communicate(timeout=240)
    assert rerun.returncode == 0, log.decode()[-2000:]
    assert b"done earlier" in log

    ref = start_cli_run(tmp_path / "clean.yaml")
    log, _ = ref.communicate(timeout=240)
    assert ref.returncode == 0, log.decode()[-2000:]

    for sub in ("data", "rejected", "quarantine"):
        assert ids(crashed / sub) == ids(clean / sub), sub
        assert parquet_rows(crashed / sub) == parquet_rows(clean / sub), sub
    assert len(set(ids(crashed / "data"))) == len(ids(crashed / "data"))
    shutil.rmtree(tmp_path / "in")


@pytest.mark.slow
def test_sigterm_marks_the_run_interrupted_and_a_rerun_resumes(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", files=8, lines=30)
    out = tmp_path / "out"
    (tmp_path / "run.yaml").write_text(SLOW_CONFIG.format(inp=tmp_path / "in", out=out))

    proc = start_cli_run(tmp_path / "run.yaml")
    journal = out / "_work" / "phase0" / "_journal"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(journal.glob("*.json"))) < 2:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)  # the driver alone, as a scheduler or `kill` sends it
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, log.decode()[-2000:]
    assert b"interrupted: finished units are kept" in log
    assert b"Traceback" not in log
    [(status, finished)] = lineage_rows(out, "SELECT status, finished_at FROM runs")
    assert status == "interrupted" and finished is not None

    rerun = start_cli_run(tmp_path / "run.yaml")
    log, _ = rerun.communicate(timeout=240)
    assert rerun.returncode == 0, log.decode()[-2000:]
    assert b"done earlier" in log
    statuses = lineage_rows(out, "SELECT status FROM runs ORDER BY started_at")
    assert [s for (s,) in statuses] == ["interrupted", "ok"]


@pytest.mark.usefixtures("ray_session")
def test_global_stage_runs_as_its_own_phase_and_is_reused_on_rerun(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    write_lines(inp / "a.lines", ["same words in here", "unique one here", "short"])
    write_lines(inp / "b.lines", ["same words in here", "another unique line"])
    out = tmp_path / "out"
    cfg = config(
        inp, out, {"test_min_words": {"min_words": 3}}, "test_first_of_each_text", "test_upper"
    )
    result = Pipeline(cfg).run()
    assert (result.kept, result.rejected) == (3, 2)
    assert result.rejects_by_reason == {
        "test_min_words:too_few_words": 1,
        "test_first_of_each_text:same_text": 1,
    }
    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    phases = dict(
        con.execute("SELECT reason, phase FROM documents WHERE reason IS NOT NULL").fetchall()
    )
    assert phases == {"too_few_words": 0, "same_text": 1}
    kept_texts = {
        r[0]
        for r in con.execute(
            "SELECT text FROM read_parquet(?)", [f"{out}/data/*.parquet"]
        ).fetchall()
    }
    con.close()
    assert kept_texts == {"sAme words in here", "unique one here", "Another unique line"}
    assert (out / "_work" / "phase1" / "_DONE.json").exists()

    done_before = (out / "_work" / "phase1" / "_DONE.json").stat().st_mtime_ns
    Pipeline(cfg).run()
    assert (out / "_work" / "phase1" / "_DONE.json").stat().st_mtime_ns == done_before

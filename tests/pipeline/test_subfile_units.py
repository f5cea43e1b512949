"""Units smaller than files: a big JSONL, a Parquet file with many row groups, and the
compressed kinds (zstd frames, BGZF blocks, WARC records) are cut into parts; ids,
``source_line`` and every output shard are those of a whole-file run, a part commits on its
own, and a kill -9 mid-file redoes only the parts that had not committed."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import random
import signal
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from engine_helpers import lineage_rows, start_cli_run  # importing registers the test stages

from corpusforge.pipeline.engine.runner import Pipeline
from tests.parts_data import bgzf, jsonl_bytes, warc_gz, warc_records, words, zstd_frames

OUTPUTS = ("data", "rejected", "quarantine")


def make_inputs(folder: Path, records: int = 9000) -> list[Path]:
    """A plain JSONL (with blank and broken lines) and a Parquet file of 40 row groups."""
    folder.mkdir(parents=True, exist_ok=True)
    jsonl = folder / "big.jsonl"
    jsonl.write_bytes(jsonl_bytes(records))
    rnd = random.Random(15)  # random letters: the Parquet file stays over 1 MB compressed
    table = pa.table({"text": [words(rnd, 1, 40) for _ in range(records)]})
    parquet = folder / "big.parquet"
    pq.write_table(table, parquet, row_group_size=records // 40)
    return [jsonl, parquet]


def config(inputs: list[Path], out: Path, unit_mb: float, *stages: dict) -> dict:
    return {
        "input": {"paths": [str(p) for p in inputs], "unit_size_mb": unit_mb},
        "output": {"path": str(out), "shard_size_mb": 0.4, "report": False},
        "stages": list(stages) or [{"test_min_words": {"min_words": 3}}],
        "ray": {"progress": False},
    }


def digests(out: Path) -> dict[str, str]:
    """Every output shard, by name, with a hash of its bytes."""
    return {
        f"{sub}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
        for sub in OUTPUTS
        for p in sorted((out / sub).glob("*.parquet"))
    }


def part_commits(out: Path) -> dict[str, dict]:
    journal = out / "_work" / "phase0" / "_journal"
    return {p.name: json.loads(p.read_text()) for p in sorted(journal.glob("*-part*.json"))}


@pytest.mark.usefixtures("ray_session")
def test_parts_give_the_ids_lines_and_bytes_of_a_whole_file_run(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in")
    assert all(p.stat().st_size > 1e6 for p in inputs)  # several parts at 1 MB
    whole = Pipeline(config(inputs, tmp_path / "whole", 0)).run()
    split = Pipeline(config(inputs, tmp_path / "split", 1)).run()

    parts = part_commits(tmp_path / "split")
    for name in ("big-",):
        assert sum(1 for n in parts if n.startswith(name)) >= 4  # both files cut, 2+ parts each
    by_file: dict[str, int] = {}
    for commit in parts.values():
        by_file[commit["path"]] = by_file.get(commit["path"], 0) + 1
    assert set(by_file) == {str(p) for p in inputs} and min(by_file.values()) >= 2
    assert not part_commits(tmp_path / "whole")

    assert (split.records, split.kept, split.rejected, split.quarantined) == (
        whole.records,
        whole.kept,
        whole.rejected,
        whole.quarantined,
    )
    assert whole.quarantined > 0 and whole.rejected > 0
    assert digests(tmp_path / "split") == digests(tmp_path / "whole")
    assert len(digests(tmp_path / "whole")) > 3  # several shards: cuts between them matter

    docs = "SELECT doc_id, source_path, source_index, fate FROM documents ORDER BY doc_id"
    assert lineage_rows(tmp_path / "split", docs) == lineage_rows(tmp_path / "whole", docs)
    inputs_sql = "SELECT path, size, checksum, records, reader_stats FROM inputs ORDER BY path"
    rows = lineage_rows(tmp_path / "split", inputs_sql)
    assert rows == lineage_rows(tmp_path / "whole", inputs_sql) and len(rows) == 2

    # source_line stays the file's physical line, also in the quarantine of a later part
    quarantine = pq.read_table(tmp_path / "split" / "quarantine").to_pylist()
    lines = (tmp_path / "in" / "big.jsonl").read_text().split("\n")
    assert quarantine and all(lines[r["source_line"] - 1] == "{broken" for r in quarantine)
    assert max(r["source_line"] for r in quarantine) > len(lines) // 2


@pytest.mark.usefixtures("ray_session")
def test_a_part_of_only_blank_lines_keeps_its_reader_counters(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "gap.jsonl"
    records = jsonl_bytes(2500, seed=3)
    path.write_bytes(records + b"\n" * 1_500_000 + records)  # 1.5 MB of blank lines inside
    whole = Pipeline(config([path], tmp_path / "whole", 0)).run()
    split = Pipeline(config([path], tmp_path / "split", 0.5)).run()

    empty = [c for c in part_commits(tmp_path / "split").values() if c["records"] == 0]
    assert empty and all(json.loads(c["reader_stats"])["blank_lines"] > 0 for c in empty)
    assert split.records == whole.records
    inputs_sql = "SELECT path, records, reader_stats FROM inputs"
    rows = lineage_rows(tmp_path / "split", inputs_sql)
    assert rows == lineage_rows(tmp_path / "whole", inputs_sql)
    counters = json.loads(rows[0][2])
    assert counters["lines"] == records.count(b"\n") * 2 + 1_500_000
    assert counters["blank_lines"] > 1_500_000


def make_compressed(folder: Path) -> dict[str, Path]:
    """Inputs of the compressed kinds that split (zstd frames, BGZF blocks, WARC records), each
    over 1 MB, and two that stay one unit (one zstd frame, plain gzip)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = jsonl_bytes(12_000, seed=16, max_words=60)
    files = {
        "frames.jsonl.zst": zstd_frames(data, 150_000),  # frames cut mid-line
        "blocks.jsonl.gz": bgzf(data),
        "crawl.warc.gz": warc_gz(warc_records(1_300, wet_share=1)),
        "one.jsonl.zst": zstandard.ZstdCompressor().compress(data),
        "one.jsonl.gz": gzip.compress(data, mtime=0),
    }
    for name, blob in files.items():
        (folder / name).write_bytes(blob)
    return {name: folder / name for name in files}


@pytest.mark.usefixtures("ray_session")
def test_compressed_parts_give_the_bytes_of_a_whole_file_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inputs = make_compressed(tmp_path / "in")
    assert all(p.stat().st_size > 1e6 for p in inputs.values())
    stages = {"length_filter": {"min_chars": 20}}
    whole = Pipeline(config(list(inputs.values()), tmp_path / "whole", 0, stages)).run()
    with caplog.at_level(logging.INFO, logger="corpusforge.pipeline.engine.units"):
        split = Pipeline(config(list(inputs.values()), tmp_path / "split", 1, stages)).run()

    by_file: dict[str, int] = {}
    for commit in part_commits(tmp_path / "split").values():
        name = Path(commit["path"]).name
        by_file[name] = by_file.get(name, 0) + 1
    assert set(by_file) == {"frames.jsonl.zst", "blocks.jsonl.gz", "crawl.warc.gz"}
    assert min(by_file.values()) >= 2
    said = caplog.text
    assert "one.jsonl.zst is read as one unit" in said and "pzstd" in said
    assert "one.jsonl.gz is read as one unit" in said and "bgzip" in said

    counts = ("records", "kept", "rejected", "quarantined")
    assert [getattr(split, c) for c in counts] == [getattr(whole, c) for c in counts]
    assert whole.quarantined > 0 and whole.rejected > 0
    assert digests(tmp_path / "split") == digests(tmp_path / "whole")
    docs = "SELECT doc_id, source_path, source_index, fate FROM documents ORDER BY doc_id"
    assert lineage_rows(tmp_path / "split", docs) == lineage_rows(tmp_path / "whole", docs)
    inputs_sql = "SELECT path, size, checksum, records, reader_stats FROM inputs ORDER BY path"
    rows = lineage_rows(tmp_path / "split", inputs_sql)
    assert rows == lineage_rows(tmp_path / "whole", inputs_sql) and len(rows) == len(inputs)


SLOW_CONFIG = """\
plugins: [engine_helpers]
input:
  paths: [{inp}]
  unit_size_mb: 0.12
  options: {{batch_rows: 200}}
output:
  path: {out}
  shard_size_mb: 0.3
  report: false
stages:
  - test_min_words: {{min_words: 3}}
  - stage: test_sleep
    params: {{seconds: 1.0}}
    resources: {{batch_size: 200}}
ray:
  num_cpus: 2
  progress: false
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", ["big.jsonl", "big.jsonl.zst"])
def test_kill_9_mid_file_redoes_only_the_unfinished_parts(tmp_path: Path, name: str) -> None:
    jsonl = make_inputs(tmp_path / "in", records=6000)[0]
    if name.endswith(".zst"):  # frames of 40 kB of input: lines cross frames, parts of several
        zst = jsonl.with_name(name)
        zst.write_bytes(zstd_frames(jsonl.read_bytes(), 40_000))
        jsonl = zst
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    for name, out in (("clean", clean), ("crashed", crashed)):
        (tmp_path / f"{name}.yaml").write_text(SLOW_CONFIG.format(inp=jsonl, out=out))

    proc = start_cli_run(tmp_path / "crashed.yaml")
    deadline = time.time() + 400
    while time.time() < deadline and len(part_commits(crashed)) < 2:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and everything it started
    proc.wait()
    before = part_commits(crashed)
    plans = list((crashed / "_work" / "phase0" / "_plans").glob("*.json"))
    assert plans, "the run did not get to plan its units in time"
    total = len(json.loads(plans[0].read_text())["parts"])
    assert 2 <= len(before) < total, "the kill must land mid-file"

    rerun = start_cli_run(tmp_path / "crashed.yaml")
    log, _ = rerun.communicate(timeout=500)
    assert rerun.returncode == 0, log.decode()[-2000:]
    after = part_commits(crashed)
    assert len(after) == total
    for name, commit in before.items():  # committed parts were not redone
        assert after[name] == commit
    first_run = {c["run_id"] for c in before.values()}
    redone = [c for n, c in after.items() if n not in before]
    assert len(redone) == total - len(before)
    assert all(c["run_id"] not in first_run for c in redone)

    ref = start_cli_run(tmp_path / "clean.yaml")
    log, _ = ref.communicate(timeout=500)
    assert ref.returncode == 0, log.decode()[-2000:]
    assert digests(crashed) == digests(clean)
    ids = "SELECT doc_id, fate FROM documents ORDER BY doc_id"
    assert lineage_rows(crashed, ids) == lineage_rows(clean, ids)


@pytest.mark.usefixtures("ray_session")
def test_small_blocks_bound_what_a_task_holds_and_change_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit flows through its stages in blocks of at most ``BLOCK_BYTES`` (so a worker never
    holds a whole unit) and a global stage's result reaches the workers in such blocks too;
    the outputs do not depend on it."""
    from corpusforge.pipeline.backends.ray import executor

    inputs = make_inputs(tmp_path / "in")
    stages = (
        {"test_min_words": {"min_words": 3}},
        {"test_first_of_each_text": {}},
        {"test_upper": {}},
    )
    whole = Pipeline(config(inputs, tmp_path / "default", 0, *stages)).run()
    monkeypatch.setattr(executor, "BLOCK_BYTES", 64 * 1024)
    small = Pipeline(config(inputs, tmp_path / "small", 0, *stages)).run()

    def fragments(out: Path, phase: int) -> list[Path]:
        return sorted((out / "_work" / f"phase{phase}").glob("*.parquet"))

    for phase in (0, 2):  # phase 2: test_upper after the global stage
        assert len(fragments(tmp_path / "small", phase)) >= 4 * len(
            fragments(tmp_path / "default", phase)
        )
    largest = max(pq.read_table(p).nbytes for p in fragments(tmp_path / "small", 0))
    assert largest < 4 * 64 * 1024  # a block of the text and every column added to it
    assert (small.records, small.kept, small.rejected) == (
        whole.records,
        whole.kept,
        whole.rejected,
    )
    assert digests(tmp_path / "small") == digests(tmp_path / "default")

"""A real two-node local Ray cluster: `corpusforge submit`, a worker killed mid-run, S3 outputs.

The cluster (two `ray start` nodes, one CPU each, own temp dirs and ports) is shared by the
tests of this module and always stopped at the end, by killing only its own processes.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parents[1]))
from cluster_helpers import LocalCluster, cluster_env  # noqa: E402

CLI = [sys.executable, "-m", "corpusforge.cli.main"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    c = LocalCluster()
    try:
        c.start()
        yield c
    finally:
        c.stop()
        assert not c.own_processes(), "the test cluster left processes behind"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    subprocess.run(
        [sys.executable, str(ROOT / "examples/make_example_corpus.py"), str(out)],
        check=True,
        capture_output=True,
    )
    return out / "corpus"


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: int = 240
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args],
        env=env or cluster_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def kept_rows(out: Path) -> pa.Table:
    tables = [pq.read_table(p) for p in sorted((out / "data").glob("*.parquet"))]
    return pa.concat_tables(tables).sort_by("id")


def fates(lineage: Path) -> list[tuple]:
    con = duckdb.connect(str(lineage), read_only=True)
    try:
        return con.execute(
            "SELECT doc_id, fate, stage, reason, text_hash FROM documents ORDER BY doc_id"
        ).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def clean_run(
    cluster: LocalCluster, corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("clean") / "out"
    proc = cli(
        "submit", "examples/quickstart.yaml", "--address", cluster.address, "--wait",
        "--input", str(corpus), "--output", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0].startswith("raysubmit_")
    return out


def test_submit_quickstart_runs_on_the_cluster(clean_run: Path, corpus: Path) -> None:
    records = 300  # make_example_corpus.py writes 300 records (some broken on purpose)
    con = duckdb.connect(str(clean_run / "lineage.duckdb"), read_only=True)
    try:
        status, cfg = con.execute("SELECT status, config FROM runs").fetchone()
        by_fate = dict(con.execute("SELECT fate, count(*) FROM documents GROUP BY 1").fetchall())
        n_inputs = con.execute("SELECT count(*) FROM inputs").fetchone()[0]
    finally:
        con.close()
    assert status == "ok"
    assert str(corpus) in cfg  # relative paths were resolved before shipping
    assert n_inputs == len(list(corpus.iterdir()))
    assert sum(by_fate.values()) == records
    assert by_fate["kept"] == kept_rows(clean_run).num_rows > 0
    assert by_fate["quarantined"] == pq.read_table(clean_run / "quarantine").num_rows


PAUSE_PLUGIN = '''
import time

from corpusforge.pipeline import stage


@stage("cluster_test_pause")
def pause(batch, seconds: float = 2.0):
    """Holds a batch long enough for the test to kill the worker running it."""
    time.sleep(seconds)
    return batch
'''


def worker_running_a_task(raylet: psutil.Process, timeout: float = 90) -> psutil.Process:
    """A worker process of this node (child of its raylet) while it runs a map task."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for child in raylet.children(recursive=True):
            try:
                title = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if title.startswith("ray::") and "MapBatches" in title:
                return child
        time.sleep(0.1)
    raise AssertionError("no task ran on the worker node")


def fault_config(folder: Path, corpus: Path, seconds: float) -> Path:
    """The fault test's pipeline: a pause long enough to kill a worker mid-task, a filter."""
    (folder / "pause_plugin.py").write_text(PAUSE_PLUGIN, encoding="utf-8")
    cfg = folder / "fault.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            name: fault
            input: {{paths: [{corpus}]}}
            output: {{path: {folder / "out"}, shard_size_mb: 64}}
            plugins: [pause_plugin]
            stages:
              - cluster_test_pause: {{seconds: {seconds}}}
              - length_filter: {{min_chars: 50}}
            """
        ),
        encoding="utf-8",
    )
    return cfg


@pytest.fixture(scope="module")
def clean_fault_run(
    cluster: LocalCluster, corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The fault test's pipeline without a fault (and without the pause)."""
    folder = tmp_path_factory.mktemp("clean_fault")
    proc = cli("submit", str(fault_config(folder, corpus, 0)), "--address", cluster.address,
               "--wait")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return folder / "out"


def test_worker_killed_mid_run_is_retried_without_loss_or_duplicates(
    cluster: LocalCluster, corpus: Path, clean_fault_run: Path, tmp_path: Path
) -> None:
    cfg = fault_config(tmp_path, corpus, 3)
    proc = cli("submit", str(cfg), "--address", cluster.address)
    assert proc.returncode == 0, proc.stderr[-3000:]
    job = proc.stdout.strip().splitlines()[0]
    worker_node = cluster.raylets()[1]
    victim = worker_running_a_task(worker_node)
    victim.kill()  # by pid: SIGKILL, mid-task
    victim.wait(10)
    follow = cli("jobs", "logs", job, "--address", cluster.address, "--follow")
    assert follow.returncode == 0, follow.stdout[-3000:] + follow.stderr[-3000:]
    status = cli("jobs", "status", job, "--address", cluster.address)
    assert status.stdout.strip() == "SUCCEEDED"

    out = tmp_path / "out"
    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT status FROM runs").fetchone()[0] == "ok"
    finally:
        con.close()
    # same documents, same fates, same kept rows as the clean run: nothing lost or doubled
    assert fates(out / "lineage.duckdb") == fates(clean_fault_run / "lineage.duckdb")
    assert kept_rows(out).equals(kept_rows(clean_fault_run))
    assert (
        pq.read_table(out / "rejected")
        .sort_by("id")
        .equals(pq.read_table(clean_fault_run / "rejected").sort_by("id"))
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_outputs_on_object_storage_with_credentials_from_env(
    cluster: LocalCluster, corpus: Path, clean_run: Path
) -> None:
    """A moto S3 server on 127.0.0.1 stands in for object storage; workers reach it with the
    credentials and endpoint passed by name with --env."""
    pytest.importorskip("s3fs")
    server_mod = pytest.importorskip("moto.server")
    port = free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        env = cluster_env()
        env.update(
            AWS_ACCESS_KEY_ID="test-key",
            AWS_SECRET_ACCESS_KEY="test-secret",
            AWS_DEFAULT_REGION="us-east-1",
            FSSPEC_S3_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        )
        import s3fs

        fs = s3fs.S3FileSystem(
            key="test-key", secret="test-secret", endpoint_url=f"http://127.0.0.1:{port}"
        )
        fs.mkdir("corpus-out")
        names = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"]
        proc = cli(
            "submit", "examples/quickstart.yaml", "--address", cluster.address, "--wait",
            "--input", str(corpus), "--output", "s3://corpus-out/run1",
            *[a for n in [*names, "FSSPEC_S3_ENDPOINT_URL"] for a in ("--env", n)],
            env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "test-secret" not in proc.stdout + proc.stderr
        fs.invalidate_cache()
        local = Path(str(clean_run) + "-from-s3")
        fs.get("corpus-out/run1/lineage.duckdb", str(local / "lineage.duckdb"))
        fs.get("corpus-out/run1/data/", str(local / "data") + "/", recursive=True)
        assert fates(local / "lineage.duckdb") == fates(clean_run / "lineage.duckdb")
        assert kept_rows(local).equals(kept_rows(clean_run))
    finally:
        server.stop()

"""The embedded Ray does not outlive its driver: not after a normal end, not after kill -9.

Without the watchdog, Ray's DashboardAgent and RuntimeEnvAgent stayed up 15-65 s after a
SIGKILL of the driver. The processes are found as the driver's descendants while it runs
(they name its Ray session folder), then must all be gone soon after the driver is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from engine_helpers import start_cli_run, write_lines

GONE_WITHIN_S = 12  # below the 15 s the agents lived on without the watchdog

CONFIG = """\
plugins: [engine_helpers]
input:
  paths: [{inp}]
  format: test-lines
  options: {{batch_rows: 5}}
output:
  path: {out}
stages:
  - test_sleep: {{seconds: {sleep}}}
ray:
  num_cpus: 1
  progress: false
"""


def start_run(tmp_path: Path, sleep: float) -> subprocess.Popen:
    inp = tmp_path / "in"
    inp.mkdir()
    for k in range(4):
        write_lines(inp / f"p{k}.lines", [f"line {i} of file {k}" for i in range(20)])
    cfg = tmp_path / "run.yaml"
    cfg.write_text(CONFIG.format(inp=inp, out=tmp_path / "out", sleep=sleep))
    return start_cli_run(cfg)


def ray_processes(driver: psutil.Process, timeout: float = 180) -> list[psutil.Process]:
    """The driver's Ray processes once its raylet and agents are up."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        procs = []
        try:
            for c in driver.children(recursive=True):
                procs.append(c)
        except psutil.NoSuchProcess:
            break
        names = set()
        for p in procs:
            try:
                names.add(p.name())
            except psutil.Error:
                continue
        if "raylet" in names and any(n.startswith("ray::") for n in names):
            return [p for p in procs if _is_ray(p)]
        time.sleep(0.3)
    raise AssertionError("the run's Ray did not come up")


def _is_ray(p: psutil.Process) -> bool:
    try:
        return "ray" in (p.name() + " ".join(p.cmdline())).lower()
    except psutil.Error:
        return False


def alive_after(procs: list[psutil.Process], seconds: float) -> list[str]:
    _, alive = psutil.wait_procs(procs, timeout=seconds)
    names = []
    for p in alive:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                names.append(p.name())
        except psutil.Error:
            continue
    return names


@pytest.mark.slow
def test_kill_9_of_the_driver_leaves_no_ray_process(tmp_path: Path) -> None:
    proc = start_run(tmp_path, sleep=2.0)
    driver = psutil.Process(proc.pid)
    procs = ray_processes(driver)
    assert procs
    os.kill(proc.pid, signal.SIGKILL)  # the driver alone, as `kill -9 PID` does
    proc.wait()
    try:
        assert alive_after(procs, GONE_WITHIN_S) == []
    finally:
        for p in procs:  # never leave them to the next test
            try:
                p.kill()
            except psutil.Error:
                pass


@pytest.mark.slow
def test_a_finished_run_leaves_no_ray_process(tmp_path: Path) -> None:
    proc = start_run(tmp_path, sleep=0.3)
    procs = ray_processes(psutil.Process(proc.pid))
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out.decode()[-2000:]
    try:
        assert alive_after(procs, GONE_WITHIN_S) == []
    finally:
        for p in procs:
            try:
                p.kill()
            except psutil.Error:
                pass

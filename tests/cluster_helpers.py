"""A real two-node Ray cluster on this machine, for the cluster tests.

Each node is a `ray start` with its own short temp dir and its own free ports, so the test
cluster never meets another Ray on the machine. It is stopped by killing only the processes
it started: every process whose command line names one of its temp dirs or its GCS port, and
their children. `ray stop` is not used: it stops *every* Ray on the machine, other tests' and
other users' included.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster_env() -> dict[str, str]:
    env = dict(os.environ)
    # the job's entrypoint runs `python -m corpusforge...`: this venv's python
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    # a token in ~/.ray would switch the head (only) to token auth; be explicit
    env["RAY_AUTH_MODE"] = "disabled"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.pop("RAY_ADDRESS", None)
    return env


@dataclass
class LocalCluster:
    temp_dirs: list[str] = field(default_factory=list)
    gcs_port: int = 0
    dashboard_port: int = 0

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _start(self, args: list[str]) -> None:
        tmp = tempfile.mkdtemp(prefix="cf", dir="/tmp")  # short: unix socket paths are limited
        self.temp_dirs.append(tmp)
        ports = [
            f"--node-manager-port={free_port()}",
            f"--object-manager-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            f"--metrics-export-port={free_port()}",
        ]
        cmd = [
            str(BIN / "ray"),
            "start",
            *args,
            f"--temp-dir={tmp}",
            "--num-cpus=1",
            "--object-store-memory=100000000",
            "--disable-usage-stats",
            *ports,
        ]
        proc = subprocess.run(
            cmd, env=cluster_env(), capture_output=True, text=True, timeout=120, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed ({proc.returncode}): {proc.stderr[-2000:]}")

    def start(self) -> LocalCluster:
        self.gcs_port, self.dashboard_port = free_port(), free_port()
        self._start(
            [
                "--head",
                f"--port={self.gcs_port}",
                f"--dashboard-port={self.dashboard_port}",
                "--dashboard-host=127.0.0.1",
                "--include-dashboard=true",
                f"--ray-client-server-port={free_port()}",
            ]
        )
        self._start([f"--address=127.0.0.1:{self.gcs_port}"])
        self._wait_for_nodes(2)
        return self

    def _wait_for_nodes(self, n: int, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.raylets()) >= n:
                return
            time.sleep(0.5)
        raise RuntimeError("the worker node did not come up")

    def own_processes(self) -> list[psutil.Process]:
        """Processes of this cluster: they name its temp dirs or GCS port; plus children."""
        marks = [
            *self.temp_dirs,
            f"127.0.0.1:{self.gcs_port}",
            f"--gcs-address=127.0.0.1:{self.gcs_port}",
        ]
        found: dict[int, psutil.Process] = {}
        for p in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(p.info["cmdline"] or [])
            if any(m in cmd for m in marks):
                found[p.pid] = p
                with contextlib.suppress(psutil.Error):
                    for c in p.children(recursive=True):
                        found[c.pid] = c
        found.pop(os.getpid(), None)
        return list(found.values())

    def raylets(self) -> list[psutil.Process]:
        """Raylet processes, head first (each names its node's temp dir)."""
        out = []
        for tmp in self.temp_dirs:
            for p in psutil.process_iter(["pid", "name", "cmdline"]):
                cmd = " ".join(p.info["cmdline"] or [])
                if (p.info["name"] or "").startswith("raylet") and tmp in cmd:
                    out.append(p)
        return out

    def stop(self) -> None:
        for _ in range(3):
            procs = self.own_processes()
            if not procs:
                break
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    p.send_signal(signal.SIGKILL)
            psutil.wait_procs(procs, timeout=5)
        for tmp in self.temp_dirs:
            shutil.rmtree(tmp, ignore_errors=True)

"""A watchdog that stops the embedded Ray completely when its driver ends, even by SIGKILL.

``ray.init()`` in the driver starts the local cluster's processes (GCS, raylet, dashboard and
runtime-env agents, workers). A driver killed with SIGKILL runs no cleanup, and Ray's agents
then live on for a minute, competing with the next run. The watchdog is a separate process,
in its own session (a ``kill -9`` of the driver's process group does not reach it). Its stdin
is a pipe from the driver: the pipe closes when the driver stops the executor or dies, and
then every process of that Ray session still alive is killed.

The watchdog starts before ``ray.init()``, so a driver killed while Ray is still starting is
covered too. The processes are the driver's children whose command line holds the ray
package's folder, and all their descendants, noted every half second while the driver lives
(after the driver's death they are re-parented, so they are remembered beforehand). Other
children of the driver (a notebook's own subprocesses) and other Ray instances on the
machine are never touched.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from typing import IO

import psutil

POLL_S = 0.5


def start(marker: str) -> subprocess.Popen:
    """Start the watchdog of the Ray this process is about to start: its processes are the
    children whose command line holds ``marker`` (the ray package's folder)."""
    # run as a plain script: it imports only psutil, so it is up at once, and a driver
    # killed early is still cleaned up
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), str(os.getpid()), marker],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def stop(proc: subprocess.Popen | None, timeout: float = 30) -> None:
    """Tell the watchdog the driver is done with Ray: it kills what is left, then exits."""
    if proc is None:
        return
    with contextlib.suppress(OSError):
        if proc.stdin:
            proc.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)


def session_processes(driver: psutil.Process, marker: str) -> dict[int, psutil.Process]:
    """The processes of the driver's Ray: its children whose command line holds ``marker``
    (gcs_server, raylet, dashboard, monitors), and their descendants (agents, workers)."""
    found: dict[int, psutil.Process] = {}
    for child in driver.children():
        with contextlib.suppress(psutil.Error):
            if marker in " ".join(child.cmdline()):
                found[child.pid] = child
                for sub in child.children(recursive=True):
                    found[sub.pid] = sub
    return found


def kill_all(procs: dict[int, psutil.Process]) -> None:
    """SIGKILL every remembered process still alive (``is_running`` checks that a pid was not
    reused) and anything it started since."""
    alive: dict[int, psutil.Process] = {}
    for p in procs.values():
        with contextlib.suppress(psutil.Error):
            if p.is_running():
                alive[p.pid] = p
                for sub in p.children(recursive=True):
                    alive[sub.pid] = sub
    alive.pop(os.getpid(), None)
    for p in alive.values():
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(list(alive.values()), timeout=10)


def watch(driver_pid: int, marker: str, stdin: IO[bytes]) -> None:
    closed = threading.Event()

    def wait_for_eof() -> None:
        with contextlib.suppress(OSError):
            while stdin.read(1024):
                pass
        closed.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    seen: dict[int, psutil.Process] = {}
    with contextlib.suppress(psutil.Error):
        driver = psutil.Process(driver_pid)
        while not closed.wait(POLL_S):
            seen.update(session_processes(driver, marker))
            if not driver.is_running():
                break
    seen.pop(os.getpid(), None)
    kill_all(seen)


if __name__ == "__main__":
    watch(int(sys.argv[1]), sys.argv[2], sys.stdin.buffer)

"""Memory of a process tree: the driver (or a subprocess) and everything it started.

RSS summed over a tree counts a shared page once per process that maps it (Ray's core
library and object-store pages, a forked parent's pages); PSS splits each shared page among
the processes that map it and sums to the memory the tree really holds. Benchmarks report
both.
"""

from __future__ import annotations

import os

import psutil


def process_label(p: psutil.Process) -> str:
    """A short name: Ray's process title (``ray::_StatsActor``) or the script or binary."""
    cmd = p.cmdline()
    if not cmd:
        return p.name()
    if cmd[0].startswith("ray::"):
        return cmd[0].split()[0]
    if "python" not in os.path.basename(cmd[0]):
        return os.path.basename(cmd[0])[:40]
    scripts = [c for c in cmd[1:3] if not c.startswith("-")]
    return os.path.basename(scripts[0] if scripts else cmd[0])[:40]


def tree_memory(root: psutil.Process) -> list[tuple[int, str, int, int]]:
    """(pid, label, RSS, PSS) in bytes of ``root`` and each live descendant."""
    rows = []
    for p in [root, *root.children(recursive=True)]:
        try:
            info = p.memory_full_info()
            rows.append((p.pid, process_label(p), info.rss, getattr(info, "pss", info.rss)))
        except psutil.Error:
            pass
    return rows


def tree_rss(root: psutil.Process) -> int:
    """Summed RSS of ``root`` and its live descendants: cheap (``statm``), unlike the PSS of
    :func:`tree_memory`, which reads every process's ``smaps`` (milliseconds each)."""
    total = 0
    for p in [root, *root.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total

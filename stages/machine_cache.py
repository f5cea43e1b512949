"""Derived assets built once per machine and kept in the user cache (``~/.cache/corpusforge``).

Some stage assets are pure functions of the installed libraries (a tokenizer converted from
tiktoken's ranks, the Unicode classes of HF ``tokenizers``' regex engine, the quality kernels'
character table): seconds to build, milliseconds to load. They are built on first use, named
by what they depend on (a version or a fingerprint, so an upgrade builds a new one) and
written atomically; concurrent workers on one machine build each once (a file lock), and a
cache folder that cannot be written only costs the build again in the next process.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "corpusforge"


def build_once(path: Path, write: Callable[[Path], None]) -> bool:
    """Make sure ``path`` exists: ``write(tmp)`` fills a temporary file that then replaces it,
    under a lock so that one process on the machine builds it while the others wait. False
    when the cache folder cannot be written (nothing built)."""
    if path.exists():
        return True
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():  # built by another process while this one waited
                tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
                try:
                    write(tmp)
                    tmp.replace(path)
                finally:
                    tmp.unlink(missing_ok=True)  # a failed build leaves nothing behind
    except OSError:
        return False
    return True

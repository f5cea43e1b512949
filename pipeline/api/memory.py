"""Giving a worker's freed memory back to the system."""

from __future__ import annotations

import contextlib
import ctypes


def trim_heap() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere
    nothing). Freed memory then stops counting in the worker's resident size, and memory
    allocated into those pages later counts again: what a stage measures as its growth is
    its own."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)

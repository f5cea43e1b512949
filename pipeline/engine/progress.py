"""Progress lines inside a phase: documents, MB/s and an ETA, with our own stage names.

One log line (logger ``corpusforge``) every ``every_s`` seconds while a phase runs, so a
terminal, a redirected log and a cluster job's log (``corpusforge jobs logs --follow``) all
show where a run is. Counts and sizes only, never document text.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("corpusforge")


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class PhaseProgress:
    """Call ``rows(n)`` as fragments arrive and ``unit_done(size)`` as files commit."""

    def __init__(self, label: str, units: int, every_s: float = 10.0) -> None:
        self.label = label
        self.units = units
        self.every_s = every_s
        self.start = self._last = time.monotonic()
        self.documents = 0
        self.done = 0
        self.done_bytes = 0

    def rows(self, n: int) -> None:
        self.documents += n
        self._maybe_log()

    def unit_done(self, size: int | None) -> None:
        self.done += 1
        self.done_bytes += size or 0
        self._maybe_log()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        parts = [
            f"{self.label}: {self.done:,}/{self.units:,} files",
            f"{self.documents:,} documents",
            f"{self.done_bytes / 1e6 / elapsed:,.1f} MB/s",
        ]
        if 0 < self.done < self.units:
            parts.append(f"ETA {_duration(elapsed * (self.units - self.done) / self.done)}")
        return ", ".join(parts)

    def _maybe_log(self) -> None:
        now = time.monotonic()
        if now - self._last >= self.every_s and self.done < self.units:
            self._last = now
            log.info(self.line())

"""Fragment descriptors as the engine keeps them: each fragment once, its counters summed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from corpusforge.pipeline.engine.execute import StageStats, merge_stats

FRAGMENT_FIELDS = (
    "fragment",
    "rows",
    "live",
    "rejected",
    "quarantined",
    "live_bytes",
    "bytes",
    "rejected_bytes",
)


def fragment_record(descriptor: dict[str, Any]) -> dict[str, Any]:
    """What the journal keeps of a fragment: its name and counts."""
    return {k: descriptor[k] for k in FRAGMENT_FIELDS}


class FragmentCounter:
    """Passes each fragment's descriptor on once and adds its stage counters to ``stats``.

    A task retried after its worker was lost rewrites the same fragment (names derive from
    the rows) and reports it again; counting it once keeps the counters exact.
    """

    def __init__(self, stats: dict[str, StageStats]) -> None:
        self._stats = stats
        self._seen: set[str] = set()

    def each_once(self, descriptors: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for d in descriptors:
            if d["fragment"] in self._seen:
                continue
            self._seen.add(d["fragment"])
            if d["stage_stats"]:
                merge_stats([d["stage_stats"]], into=self._stats)
            yield d

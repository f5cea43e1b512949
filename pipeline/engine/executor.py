"""The executor interface: what the engine asks of a backend, and nothing more.

The engine plans a run (units, phases, shards) and keeps its memory (journal, lineage); an
executor runs the work on some compute: a local Ray, a Ray cluster, or in principle a plain
process pool. Everything an executor runs is one of the Ray-free worker functions of
:mod:`corpusforge.pipeline.engine.execute`, so every backend computes the same rows.

A phase is a read (phase 0) or a global stage (later phases), then per-batch stages, then
fragment writing (which redacts the text of rejected rows: ``PhaseWork.rejected_text``).
Executors return the fragment descriptors the writers emit (one row per written fragment,
see ``execute.fragment_descriptors_schema``); a descriptor may come twice when a task is
retried, and the engine counts each fragment once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from corpusforge.pipeline.api import Frame, FrameSource
from corpusforge.pipeline.engine.plan import PlannedStage
from corpusforge.pipeline.engine.privacy import RejectedText


@dataclass(frozen=True)
class PhaseWork:
    """What every phase shares: its per-batch stages and where its fragments go."""

    stages: list[PlannedStage]
    phase_dir: str
    compression: str
    run_id: str
    plugins: list[str] = field(default_factory=list)
    guard: Any = None  # phase 0: refuses forgotten documents (governance.guard.ForgetGuard)
    # the fragment writer redacts rejected rows as the rejected output will keep them
    rejected_text: RejectedText | None = None


@dataclass(frozen=True)
class ReadWork:
    """Phase 0's source: units (input files or parts of them) and the reader class for each
    format."""

    units: list[str]  # unit ids: a file's path, or ``path#partNNNNN``
    formats: dict[str, str]  # unit -> format name
    readers: dict[str, type]  # format name -> reader class (resolved on the driver)
    reader_params: dict[str, Any]
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)  # unit -> read item

    def items(self) -> list[dict[str, Any]]:
        """One read task's input per unit: path, format and part (JSON; null: whole file)."""
        whole = {"part": None, "number": None}
        return [
            self.parts.get(u) or {"path": u, "format": self.formats[u], **whole} for u in self.units
        ]


class Executor(Protocol):
    """A backend the engine runs on (see :class:`~corpusforge.pipeline.backends.ray.executor.
    RayExecutor`)."""

    @property
    def frames(self) -> FrameSource:
        """Where global stages get new frames (distributed ones, on a cluster backend)."""
        ...

    def start(self) -> None:
        """Start or join the compute this run needs (idempotent)."""

    def stop(self) -> None:
        """Release what :meth:`start` started; a joined cluster stays up. A run calls it
        once its last cluster work is done and again when it ends: a second call is a no-op."""

    def read_phase(self, read: ReadWork, work: PhaseWork) -> Iterator[dict[str, Any]]:
        """Phase 0: read every unit, apply the stages, write fragments; yield descriptors."""
        ...

    def global_phase(
        self,
        fragment_urls: list[str],
        run_global: Callable[[Frame], Frame],
        work: PhaseWork,
    ) -> Iterator[dict[str, Any]]:
        """A later phase: the live rows of ``fragment_urls`` as one frame through
        ``run_global`` (the global stage, rejects marked), then the stages; yield descriptors."""
        ...

    def run_tasks(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        """``fn(*args)`` for every ``args`` in ``calls``, in parallel, retried if a worker is
        lost (so ``fn`` must be idempotent); results in call order."""
        ...

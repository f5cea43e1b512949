"""The stage contract: a pure transform of an Arrow table of documents.

A stage receives the live documents of a batch and returns the same rows, in the same order,
with columns added or rewritten. It never drops a row: a filter marks the rows it rejects with
:func:`reject`, and the engine routes them to the rejected output and to lineage. Stages know
nothing of Ray; call one directly on a ``pyarrow.Table`` to test it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, create_model

if TYPE_CHECKING:
    from corpusforge.pipeline.api.frame import Frame, FrameSource


class StageParams(BaseModel):
    """Base of every stage's parameter model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Resources:
    """What one worker of a stage needs. The runner turns this into Ray Data arguments."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory: int | None = None  # bytes per worker, a scheduling hint
    batch_size: int | None = None  # rows per call of process(); None: whole blocks (fuses best)
    concurrency: int | None = None  # max parallel workers; None: as many as the cluster fits

    def merged(self, overrides: dict[str, Any] | None) -> Resources:
        return replace(self, **overrides) if overrides else self


# How many GPUs a stage may plan for (``device: auto``): on the driver, the backend sets it to
# the cluster's GPU count once it knows the cluster; in a worker, to the GPUs of the stage's
# pool (0 in a CPU task). Unset: the stage looks at the devices it can see itself.
CLUSTER_GPUS_ENV = "CORPUSFORGE_CLUSTER_GPUS"


@dataclass(frozen=True)
class Metric:
    """One figure a stage reports about its own work (:meth:`Stage.take_metrics`).

    ``how`` says how figures of several batches and workers combine: ``sum`` (a count),
    ``max`` (a peak) or ``mean`` (weighted by ``weight``: samples, seconds, rows).
    """

    value: float
    how: Literal["sum", "max", "mean"] = "sum"
    weight: float = 1.0


class Stage:
    """Base class of a per-batch stage.

    Subclasses set ``name`` (the registry name YAML uses), optionally a ``Params`` model, and
    implement :meth:`process`. Stages with heavy state (a model) set ``stateful = True`` and
    load it in :meth:`setup`, which runs once per worker process. On CPUs the instance is
    cached in the worker and the stage runs in the same task as its neighbours (one task
    reads, filters and writes a file); a stage that asks for GPUs runs on an actor pool that
    holds the device.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Params: ClassVar[type[StageParams]] = StageParams
    resources: ClassVar[Resources] = Resources()
    stateful: ClassVar[bool] = False
    is_global: ClassVar[bool] = False
    # Lineage records every numeric or boolean column a stage adds (signals, counts); string
    # columns it should record too (labels such as a language code) are listed here. Never a
    # column holding document text: lineage is free of text by design.
    lineage_columns: ClassVar[tuple[str, ...]] = ()
    # Columns only later stages need (e.g. MinHash signatures for the dedup phase): kept in
    # the checkpoints, left out of the Parquet outputs.
    internal_columns: ClassVar[tuple[str, ...]] = ()
    # Columns beyond the document schema: those the stage reads (an earlier stage must add
    # them) and those it adds. The planner checks the chain when a config is validated, so a
    # missing producer fails at `validate`, not at the end of a run.
    inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()
    # A stage that rewrites ``text`` to remove personal data: rows rejected after it hold
    # redacted text, and the report and privacy checks treat them so.
    redacts_text: ClassVar[bool] = False

    def __init__(
        self,
        params: StageParams | dict[str, Any] | None = None,
        *,
        instance_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(params, StageParams):
            self.params = params
        else:
            self.params = self.Params.model_validate({**(params or {}), **kwargs})
        self.instance_name = instance_name or self.name or type(self).__name__
        self._ready = False

    def required_inputs(self) -> tuple[str, ...]:
        """The columns this instance reads; override when parameters decide (e.g. a
        language scope needs ``language``)."""
        return self.inputs

    def added_columns(self) -> tuple[str, ...]:
        """Every column this instance adds (declared outputs, signals, internal columns)."""
        return (*self.outputs, *self.lineage_columns, *self.internal_columns)

    def model_files(self) -> dict[str, str]:
        """Files the stage loads (models, tokenizers, word lists): label -> local path.

        Lineage records each with its hash (``runs.provenance``). The default names every
        parameter that is the path of an existing file; a stage with a packaged default
        model returns that file too.
        """
        import os

        values = self.params.model_dump()
        return {
            k: v
            for k, v in values.items()
            if isinstance(v, str) and "://" not in v and os.path.isfile(v)
        }

    def setup(self) -> None:
        """Load heavy per-worker state. Called once per worker before the first batch."""

    def process(self, batch: pa.Table) -> pa.Table:
        raise NotImplementedError

    def take_metrics(self) -> dict[str, Metric]:
        """Figures about this worker's work since the last call (GPU busy %, device memory).

        The engine calls it after each batch, combines the figures over batches and workers
        as each :class:`Metric` says, and records them in lineage (``stage_stats.metrics``)
        and the report. Numbers only, never document text; none by default.
        """
        return {}

    def ensure_setup(self) -> None:
        if not self._ready:
            self.setup()
            self._ready = True

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Run on a table of live documents, outside any engine (tests, notebooks)."""
        self.ensure_setup()
        return self.process(batch)

    def __repr__(self) -> str:
        return f"<stage {self.instance_name} ({self.name})>"


@dataclass(frozen=True)
class GlobalContext:
    """Where a global stage may keep its own state, and where it gets new frames.

    ``work_dir``: this stage's private checkpoint folder for the current run (resume).
    ``output_dir``: the run's output folder (persist indexes meant for later runs here).
    ``frames``: the backend's :class:`~corpusforge.pipeline.api.frame.FrameSource` (read an
    index of an earlier run, build a frame from tables); in-process frames by default.
    """

    work_dir: str
    output_dir: str
    frames: FrameSource | None = None

    def __post_init__(self) -> None:
        if self.frames is None:
            from corpusforge.pipeline.api.frame import LocalFrameSource

            object.__setattr__(self, "frames", LocalFrameSource())


class GlobalStage(Stage):
    """A stage that needs to see the whole corpus at once (deduplication).

    The planner splits the pipeline into phases at global stages. ``run`` receives every live
    document of the previous phase as a :class:`~corpusforge.pipeline.api.frame.Frame` (a
    thin, backend-provided view over distributed data) and returns one with the same rows, rejected
    ones marked with :func:`reject`.
    """

    is_global = True

    def run(self, docs: Frame, ctx: GlobalContext) -> Frame:
        raise NotImplementedError

    def process(self, batch: pa.Table) -> pa.Table:
        raise TypeError(f"{self.name} is a global stage: the engine calls run(), not process()")


# --------------------------------------------------------------------------- the decorator


def stage(
    name: str | None = None,
    *,
    resources: Resources | None = None,
    description: str | None = None,
    lineage_columns: tuple[str, ...] = (),
    register: bool = True,
) -> Callable[[Callable[..., pa.Table]], type[Stage]]:
    """Turn a plain function ``fn(batch, **params) -> batch`` into a registered stage.

    The keyword parameters of the function (with their defaults and type hints) become the
    stage's parameters, validated like any other stage's::

        @stage("min_words")
        def min_words(batch: pa.Table, min_words: int = 5) -> pa.Table:
            words = pc.utf8_length(pc.utf8_split_whitespace(batch["text"]) ...)
            return reject(batch, ..., "too_short")
    """

    def wrap(fn: Callable[..., pa.Table]) -> type[Stage]:
        stage_name = name or fn.__name__
        fields: dict[str, Any] = {}
        for pname, p in list(inspect.signature(fn).parameters.items())[1:]:
            hint = p.annotation if p.annotation is not inspect.Parameter.empty else Any
            default = p.default if p.default is not inspect.Parameter.empty else ...
            fields[pname] = (hint, default)
        params_model = create_model(
            f"{stage_name}_params", __base__=StageParams, __module__=fn.__module__, **fields
        )

        def process(self: Stage, batch: pa.Table) -> pa.Table:
            return fn(batch, **self.params.model_dump())

        cls = type(
            f"{stage_name}_stage",
            (Stage,),
            {
                "name": stage_name,
                "description": description or (inspect.getdoc(fn) or "").split("\n")[0],
                "Params": params_model,
                "resources": resources or Resources(),
                "lineage_columns": tuple(lineage_columns),
                "process": process,
                "__module__": fn.__module__,
                "__doc__": fn.__doc__,
            },
        )
        if register:
            from corpusforge.pipeline.registry import register_stage

            register_stage(cls)
        return cls

    return wrap

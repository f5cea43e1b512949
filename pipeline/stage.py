"""The stage contract: a pure transform of an Arrow table of documents.

A stage receives the live documents of a batch and returns the same rows, in the same order,
with columns added or rewritten. It never drops a row: a filter marks the rows it rejects with
:func:`reject`, and the engine routes them to the rejected output and to lineage. Stages know
nothing of Ray; call one directly on a ``pyarrow.Table`` to test it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, create_model

from corpusforge.schemas import Col


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

    def setup(self) -> None:
        """Load heavy per-worker state. Called once per worker before the first batch."""

    def process(self, batch: pa.Table) -> pa.Table:
        raise NotImplementedError

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
    """Where a global stage may keep its own state.

    ``work_dir``: this stage's private checkpoint folder for the current run (resume).
    ``output_dir``: the run's output folder (persist indexes meant for later runs here).
    ``previous_outputs``: output folders of earlier runs to deduplicate against.
    """

    work_dir: str
    output_dir: str
    previous_outputs: tuple[str, ...] = ()


class GlobalStage(Stage):
    """A stage that needs to see the whole corpus at once (deduplication).

    The planner splits the pipeline into phases at global stages. ``run`` receives every live
    document of the previous phase as a :class:`corpusforge.pipeline.frame.DocFrame` (a thin,
    engine-provided view over distributed data) and returns one with the same rows, rejected
    ones marked with :func:`reject`.
    """

    is_global = True

    def run(self, docs: Any, ctx: GlobalContext) -> Any:  # DocFrame -> DocFrame
        raise NotImplementedError

    def process(self, batch: pa.Table) -> pa.Table:
        raise TypeError(f"{self.name} is a global stage: the engine calls run(), not process()")


# --------------------------------------------------------------------------- rejecting rows

Mask = pa.Array | pa.ChunkedArray | np.ndarray | Sequence[bool]


def _as_bool_array(mask: Mask, n: int) -> pa.Array:
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    arr = mask if isinstance(mask, pa.Array) else pa.array(np.asarray(mask, dtype=bool))
    if len(arr) != n:
        raise ValueError(f"reject mask has {len(arr)} entries for a batch of {n} rows")
    return pc.fill_null(arr.cast(pa.bool_()), False)


def _as_string_array(value: str | Sequence[str | None] | pa.Array | None, n: int) -> pa.Array:
    if value is None or isinstance(value, str):
        return pa.array([value] * n, type=pa.string())
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    arr = value if isinstance(value, pa.Array) else pa.array(list(value), type=pa.string())
    return arr.cast(pa.string())


def reject(
    batch: pa.Table,
    mask: Mask,
    reason: str | Sequence[str | None] | pa.Array,
    detail: str | Sequence[str | None] | pa.Array | None = None,
) -> pa.Table:
    """Mark the rows where ``mask`` is true as rejected with ``reason`` (and ``detail``).

    A row already marked keeps its first reason: the first rule that fires is the one that
    lineage reports. ``reason`` and ``detail`` are a single string or one value per row.
    Details must hold numbers, labels or ids, never document text.
    """
    n = batch.num_rows
    hit = _as_bool_array(mask, n)
    reasons = _as_string_array(reason, n)
    details = _as_string_array(detail, n)
    old_reason = (
        batch.column(Col.REASON).combine_chunks()
        if Col.REASON in batch.column_names
        else pa.nulls(n, pa.string())
    )
    old_detail = (
        batch.column(Col.DETAIL).combine_chunks()
        if Col.DETAIL in batch.column_names
        else pa.nulls(n, pa.string())
    )
    fresh = pc.and_(hit, pc.is_null(old_reason))
    new_reason = pc.if_else(fresh, reasons, old_reason)
    new_detail = pc.if_else(fresh, details, old_detail)
    return set_column(set_column(batch, Col.REASON, new_reason), Col.DETAIL, new_detail)


def rejected_mask(batch: pa.Table) -> pa.Array:
    """True for rows a stage has marked with :func:`reject`."""
    if Col.REASON not in batch.column_names:
        return pa.array(np.zeros(batch.num_rows, dtype=bool))
    return pc.is_valid(batch.column(Col.REASON).combine_chunks())


def set_column(batch: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Add ``name`` or replace it in place (keeps column order stable across batches)."""
    if name in batch.column_names:
        return batch.set_column(batch.column_names.index(name), name, values)
    return batch.append_column(name, values)


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

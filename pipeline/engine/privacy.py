"""What text the rejected output keeps: privacy by default.

A document rejected before the pipeline's PII stage (``Stage.redacts_text``) ran, or at read,
still holds its original text. By default (``output.rejected_text: redacted``) that PII stage
runs on those documents in the task that rejected them, when the phase writes its fragments
(:meth:`RejectedText.redact_fragment`): the work is spread over every worker as the phase
runs, and their raw text never lands in ``OUT/_work`` either. The fragment column
``_text_redacted_by`` records which rejected rows went through the PII stage (redacted there,
or rejected after it), so the writer of ``rejected/`` only copies them; a row without it (a
fragment of an older version, or written under ``raw``) is redacted by the writer, as before.
So ``rejected/`` and the report's samples never hold a value the PII stage would have
redacted. ``none`` stores rejected documents without text; ``raw`` (explicit) keeps the
original text, and ``corpusforge validate`` warns about it. The column ``text_redacted_by``
of ``rejected/`` names the stage that redacted each document's text (null: original text).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api import Stage, StageParams, set_column
from corpusforge.pipeline.engine.execute import TEXT_REDACTED_BY, StageStats
from corpusforge.schemas import FATE_REJECTED, Col

REDACTED_BY = "text_redacted_by"
ENGINE_COLUMNS = (Col.FATE, Col.STAGE, Col.REASON, Col.DETAIL, Col.ERROR)
# one redacting instance per worker process and stage configuration, kept across tasks
_STAGES: dict[tuple[str, str], Stage] = {}


@dataclass(frozen=True)
class RejectedText:
    mode: str  # "redacted", "raw" or "none"
    redactor: tuple[type[Stage], StageParams, str] | None = None  # class, params, name
    redacted_by_pipeline: frozenset[str] = frozenset()  # stages that reject after the PII stage

    @property
    def redactor_name(self) -> str | None:
        return self.redactor[2] if self.redactor else None

    @property
    def redacts_fragments(self) -> bool:
        """Whether phases redact the rejected rows of their fragments (see the module)."""
        return self.mode == "redacted" and self.redactor is not None

    def redact_fragment(
        self, table: pa.Table, stage: Callable[[], Stage]
    ) -> tuple[pa.Table, StageStats]:
        """A fragment's rows with the rejected ones' text redacted where the PII stage has not
        seen it, and ``_text_redacted_by`` naming it on every rejected row that went through
        it; with the rows (and text bytes) that went through the PII stage here and its time
        (no batch when none did). ``stage`` gives the PII stage instance, asked only when a
        row needs it."""
        rejected = pc.fill_null(pc.equal(table.column(Col.FATE), FATE_REJECTED), False)
        done = pc.and_(rejected, self._after(table))
        todo = pc.and_(pc.and_(rejected, pc.invert(done)), pc.is_valid(table[Col.TEXT]))
        counters = StageStats()
        if pc.any(todo).as_py():
            start = time.perf_counter()
            counters.docs_in = counters.docs_out = int(pc.sum(todo).as_py())
            counters.bytes_in = int(
                pc.sum(pc.binary_length(table[Col.TEXT].filter(todo))).as_py() or 0
            )
            table = self._redact(table, todo, stage())
            counters.seconds, counters.batches = time.perf_counter() - start, 1
            done = pc.or_(done, todo)
        mark = pc.if_else(done, pa.scalar(self.redactor_name, pa.string()), _NULL)
        return set_column(table, TEXT_REDACTED_BY, mark), counters

    def apply(self, table: pa.Table) -> pa.Table:
        """Rejected rows as the rejected output stores them, with ``text_redacted_by``."""
        marked = table.column(TEXT_REDACTED_BY) if TEXT_REDACTED_BY in table.column_names else None
        if marked is not None:
            table = table.drop_columns([TEXT_REDACTED_BY])
        if self.mode == "none":
            table = set_column(table, Col.TEXT, pa.nulls(table.num_rows, pa.string()))
            return set_column(table, REDACTED_BY, pa.nulls(table.num_rows, pa.string()))
        done = self._after(table)
        if marked is not None:
            done = pc.or_(done, pc.is_valid(marked))
        if self.mode == "redacted" and self.redactor is not None:
            todo = pc.and_(pc.invert(done), pc.is_valid(table[Col.TEXT]))
            if pc.any(todo).as_py():
                table = self._redact(table, todo, self.stage())
            done = pa.array(np.ones(table.num_rows, dtype=bool))
        by = pc.if_else(done, pa.scalar(self.redactor_name, pa.string()), _NULL)
        return set_column(table, REDACTED_BY, by)

    def _after(self, table: pa.Table) -> pa.Array:
        """Rows rejected by a stage after the PII stage: their text went through it."""
        after = pa.array(sorted(self.redacted_by_pipeline), pa.string())
        return pc.fill_null(pc.is_in(table.column(Col.STAGE), after), False)

    def _redact(self, table: pa.Table, todo: pa.Array, stage: Stage) -> pa.Table:
        """``table`` with the text of the ``todo`` rows as the PII stage rewrites it."""
        rows = np.flatnonzero(np.asarray(todo.to_numpy(zero_copy_only=False), dtype=bool))
        # the PII stage sees these rows as live documents, as it would have in the pipeline
        sub = table.take(pa.array(rows))
        sub = sub.drop_columns([c for c in ENGINE_COLUMNS if c in sub.column_names])
        step = stage.resources.batch_size or len(rows)  # bounded process() calls, as in phases
        redacted = pa.concat_arrays(
            [
                stage.process(sub.slice(i, step)).column(Col.TEXT).combine_chunks()
                for i in range(0, len(rows), step)
            ]
        )
        mask = np.zeros(table.num_rows, dtype=bool)
        mask[rows] = True
        texts = table.column(Col.TEXT).combine_chunks().cast(pa.string())
        new = pc.replace_with_mask(texts, pa.array(mask), redacted.cast(pa.string()))
        return set_column(table, Col.TEXT, new)

    def stage(self) -> Stage:
        """This worker process's instance of the PII stage, set up once and kept across
        tasks (a task receives its own copy of the params: the key is their content)."""
        assert self.redactor is not None
        cls, params, name = self.redactor
        key = (name, params.model_dump_json())
        if key not in _STAGES:
            _STAGES.clear()
            _STAGES[key] = cls(params, instance_name=name)
        stage = _STAGES[key]
        stage.ensure_setup()
        return stage


_NULL = pa.scalar(None, pa.string())


def rejected_text(mode: str, stages: list[Stage]) -> RejectedText:
    """The rejected-text rule of a pipeline (``stages`` in order)."""
    at = next((i for i, s in enumerate(stages) if s.redacts_text), None)
    if at is None:
        return RejectedText(mode)
    pii = stages[at]
    after = frozenset(s.instance_name for s in stages[at + 1 :])
    return RejectedText(mode, (type(pii), pii.params, pii.instance_name), after)


def privacy_warnings(mode: str, write_rejected: bool, stages: list[Stage]) -> list[str]:
    """What ``validate`` says about a config that keeps raw text of PII-bearing rejects."""
    at = next((i for i, s in enumerate(stages) if s.redacts_text), None)
    if at is None or not write_rejected or mode != "raw":
        return []
    before = [s.instance_name for s in stages[:at]]
    first = f"{', '.join(before)} run" if before else "the reader rejects documents"
    return [
        f"output.rejected_text: raw with {first} before {stages[at].instance_name}: "
        "rejected/ and the report samples keep those documents' text unredacted "
        "(drop the setting for redacted text, or use none)"
    ]

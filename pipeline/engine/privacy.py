"""What text the rejected output keeps: privacy by default.

A document rejected before the pipeline's PII stage (``Stage.redacts_text``) ran, or at read,
still holds its original text. By default (``output.rejected_text: redacted``) the writer of
the rejected shards runs that PII stage on those documents first, so ``rejected/`` and the
report's samples never hold a value the PII stage would have redacted. ``none`` stores
rejected documents without text; ``raw`` (explicit) keeps the original text, and
``corpusforge validate`` warns about it. The column ``text_redacted_by`` of ``rejected/``
names the stage that redacted each document's text (null: original text).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api import Stage, StageParams, set_column
from corpusforge.schemas import Col

REDACTED_BY = "text_redacted_by"
ENGINE_COLUMNS = (Col.FATE, Col.STAGE, Col.REASON, Col.DETAIL, Col.ERROR)
_STAGES: dict[tuple[str, int], Stage] = {}  # one redacting instance per worker process


@dataclass(frozen=True)
class RejectedText:
    mode: str  # "redacted", "raw" or "none"
    redactor: tuple[type[Stage], StageParams, str] | None = None  # class, params, name
    redacted_by_pipeline: frozenset[str] = frozenset()  # stages that reject after the PII stage

    @property
    def redactor_name(self) -> str | None:
        return self.redactor[2] if self.redactor else None

    def apply(self, table: pa.Table) -> pa.Table:
        """Rejected rows as the rejected output stores them, with ``text_redacted_by``."""
        if self.mode == "none":
            table = set_column(table, Col.TEXT, pa.nulls(table.num_rows, pa.string()))
            return set_column(table, REDACTED_BY, pa.nulls(table.num_rows, pa.string()))
        after = pa.array(sorted(self.redacted_by_pipeline), pa.string())
        done = pc.is_in(table.column(Col.STAGE), after)
        done = pc.fill_null(done, False)
        name = self.redactor_name
        if self.mode == "redacted" and self.redactor is not None:
            table = self._redact(table, pc.and_(pc.invert(done), pc.is_valid(table[Col.TEXT])))
            done = pa.array(np.ones(table.num_rows, dtype=bool))
        by = pc.if_else(done, pa.scalar(name, pa.string()), pa.scalar(None, pa.string()))
        return set_column(table, REDACTED_BY, by)

    def _redact(self, table: pa.Table, todo: pa.Array) -> pa.Table:
        rows = np.flatnonzero(np.asarray(todo.to_numpy(zero_copy_only=False), dtype=bool))
        if not len(rows):
            return table
        stage = self._stage()
        # the PII stage sees these rows as live documents, as it would have in the pipeline
        sub = table.take(pa.array(rows))
        sub = sub.drop_columns([c for c in ENGINE_COLUMNS if c in sub.column_names])
        redacted = stage.process(sub).column(Col.TEXT).to_pylist()
        texts = table.column(Col.TEXT).to_pylist()
        for i, text in zip(rows.tolist(), redacted, strict=True):
            texts[i] = text
        return set_column(table, Col.TEXT, pa.array(texts, pa.string()))

    def _stage(self) -> Stage:
        assert self.redactor is not None
        cls, params, name = self.redactor
        key = (name, id(params))
        if key not in _STAGES:
            _STAGES.clear()
            _STAGES[key] = cls(params, instance_name=name)
        stage = _STAGES[key]
        stage.ensure_setup()
        return stage


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

"""Helpers shared by the heuristic quality stages: texts, language scope, signals, rejects."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from corpusforge.pipeline.api import StageParams, reject, set_column
from corpusforge.schemas import LANGUAGE, Col

LANGUAGE_COLUMN = LANGUAGE


def texts_of(batch: pa.Table) -> list[str]:
    """The ``text`` column as Python strings (null reads as the empty document)."""
    return ["" if t is None else t for t in batch.column(Col.TEXT).to_pylist()]


def in_scope(batch: pa.Table, languages: Sequence[str] | None) -> list[bool]:
    """Rows where language-specific rules apply.

    ``languages=None`` means every row. Otherwise a row is in scope when its ``language``
    column (written by the ``langid`` stage) is one of ``languages``; rows with a null language
    are out of scope. When the batch has no ``language`` column at all, nobody identified the
    language, and every row is taken to be in the configured languages.
    """
    if languages is None or LANGUAGE_COLUMN not in batch.column_names:
        return [True] * batch.num_rows
    allowed = set(languages)
    return [lang in allowed for lang in batch.column(LANGUAGE_COLUMN).to_pylist()]


def add_signals(batch: pa.Table, signals: dict[str, tuple[pa.DataType, list]]) -> pa.Table:
    """Write each signal column (name -> (type, values)); None values become nulls."""
    for name, (dtype, values) in signals.items():
        batch = set_column(batch, name, pa.array(values, type=dtype))
    return batch


def apply_rejects(
    batch: pa.Table, reasons: list[str | None], details: list[str | None]
) -> pa.Table:
    """Mark rows with a reason as rejected (rows without one stay live)."""
    mask = [r is not None for r in reasons]
    if not any(mask):
        return batch
    return reject(batch, mask, reasons, details)


def detail(signal: str, value: float | int, op: str, threshold: float | int) -> str:
    """Reject detail: the signal, its value and the threshold it crossed (numbers only)."""
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{signal}={shown}{op}{threshold}"


def language_inputs(params: StageParams) -> tuple[str, ...]:
    """A language scope the user set explicitly needs the ``language`` column (langid);
    the default scope also runs without it (every row is then taken to be in scope)."""
    return (LANGUAGE,) if "languages" in params.model_fields_set and params.languages else ()

"""Helpers shared by the heuristic quality stages: texts, language scope, signals, rejects."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from corpusforge.pipeline.api import StageParams, reject, set_column
from corpusforge.schemas import LANGUAGE, Col

LANGUAGE_COLUMN = LANGUAGE


def texts_of(batch: pa.Table) -> list[str]:
    """The ``text`` column as Python strings (null reads as the empty document)."""
    return ["" if t is None else t for t in batch.column(Col.TEXT).to_pylist()]


def texts_at(batch: pa.Table, rows: list[int]) -> list[str]:
    """The texts of ``rows`` (the documents a kernel leaves to the Python path)."""
    if not rows:
        return []
    return texts_of(batch.take(pa.array(rows, pa.int64())))


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


def ratio(num: np.ndarray, den: np.ndarray, when_zero: float = 0.0) -> np.ndarray:
    """``num / den`` per row, the float Python's ``int / int`` gives (both are exact in
    float64 below 2**53), ``when_zero`` where ``den`` is 0."""
    out = np.full(len(num), when_zero, np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


class SignalArrays:
    """Signal columns of a batch as numpy arrays (``valid`` False: null), filled from the
    kernels' counts and, row by row, from the Python path's dictionaries."""

    def __init__(self, n: int, types: dict[str, pa.DataType]) -> None:
        self.types = types
        self.values = {k: np.zeros(n, np.int64 if t == pa.int64() else np.float64)
                       for k, t in types.items()}  # fmt: skip
        self.valid = {k: np.ones(n, np.bool_) for k in types}

    def set(self, name: str, values: np.ndarray, valid: np.ndarray | None = None) -> None:
        self.values[name] = values
        if valid is not None:
            self.valid[name] = valid

    def set_row(self, d: int, row: dict) -> None:
        """Row ``d`` from a Python-path dictionary (a missing or None signal is null)."""
        for k in self.types:
            v = row.get(k)
            self.valid[k][d] = v is not None
            self.values[k][d] = 0 if v is None else v

    def add_to(self, batch: pa.Table) -> pa.Table:
        for k, t in self.types.items():
            arr = pa.array(self.values[k], type=t, mask=~self.valid[k])
            batch = set_column(batch, k, arr)
        return batch


# a rule, in the order rules apply: (reason, where it fires, detail label or None for no
# detail, the values the detail shows, operator, threshold)
Rule = tuple[str, np.ndarray, str | None, np.ndarray | None, str, float | int | None]


def first_rules(n: int, rules: list[Rule]) -> tuple[list[str | None], list[str | None]]:
    """(reason, detail) of every row: the first rule that fires, as the per-document
    decisions take them one after the other."""
    reasons: list[str | None] = [None] * n
    details: list[str | None] = [None] * n
    open_rows = np.ones(n, np.bool_)
    for reason, fires, label, values, op, thr in rules:
        hit = np.flatnonzero(open_rows & fires)
        open_rows[hit] = False
        for d in hit.tolist():
            reasons[d] = reason
            if label is not None and values is not None and thr is not None:
                details[d] = detail(label, values[d].item(), op, thr)
    return reasons, details

"""Marking rows: how a stage rejects documents without dropping them, and column helpers.

A row a stage rejects keeps its place in the batch with ``_reason`` (and ``_detail``) set; the
engine routes it to the rejected output and to lineage. The first reason wins.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.schemas import Col

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


def as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One Arrow array of a column. A single chunk is returned as it is, because
    ``combine_chunks`` copies the buffers even then (a whole batch of text per stage)."""
    if isinstance(values, pa.Array):
        return values
    if values.num_chunks == 1:
        return values.chunk(0)
    if values.num_chunks == 0:
        return pa.array([], values.type)
    return values.combine_chunks()


def set_column(batch: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Add ``name`` or replace it in place (keeps column order stable across batches)."""
    if name in batch.column_names:
        return batch.set_column(batch.column_names.index(name), name, values)
    return batch.append_column(name, values)

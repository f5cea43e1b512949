"""Frames: the table-in/table-out operations a global stage may use on the whole corpus.

Global stages (deduplication) need all-to-all operations: grouping by a key, joining. They get
them as a handful of Arrow operations, so that stage code stays free of any execution backend.

:class:`Frame` is the interface. :class:`LocalFrame` implements it on one Arrow table in this
process; the Ray backend's ``DocFrame`` implements it on distributed data, where every shuffle
costs seconds of fixed overhead however small the data. A global stage moves its slim tables
to a :class:`LocalFrame` (``to_local``) when they are small enough, and a join of a distributed
frame with a local one broadcasts the local table instead of shuffling both sides. New frames
(an index written by an earlier run, a few tables) come from the :class:`FrameSource` in the
stage's ``GlobalContext``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api.stage import Resources

TableFn = Callable[[pa.Table], pa.Table]


class Frame(Protocol):
    """What every frame offers (see :class:`LocalFrame` for the semantics of each)."""

    @property
    def column_names(self) -> list[str]: ...
    def map_batches(self, fn: TableFn, *, resources: Resources | None = None) -> Frame: ...
    def map_blocks(self, fn: TableFn) -> Frame: ...
    def partition_map(self, key: str, fn: TableFn, *, num_partitions: int) -> Frame: ...
    def groupby_map(self, key: str | list[str], fn: TableFn) -> Frame: ...
    def join(
        self, other: Frame, on: list[str], how: str = "left_outer", *, num_partitions: int = 16
    ) -> Frame: ...
    def union(self, other: Frame) -> Frame: ...
    def drop(self, columns: list[str]) -> Frame: ...
    def select(self, columns: list[str]) -> Frame: ...
    def sum(self, column: str) -> int: ...
    def count(self) -> int: ...
    def materialize(self) -> Frame: ...
    def to_local(self) -> LocalFrame: ...
    def to_arrow(self) -> pa.Table: ...
    def iter_tables(self, batch_size: int | None = None) -> Iterator[pa.Table]: ...
    def write_parquet(self, path: str) -> None: ...


class FrameSource(Protocol):
    """Where a global stage gets new frames: the engine's backend provides one."""

    def read_parquet(self, path: str) -> Frame: ...
    def from_tables(self, tables: list[pa.Table]) -> Frame: ...


def arrow_join(left: pa.Table, right: pa.Table, on: list[str], how: str) -> pa.Table:
    """``left`` joined with ``right`` on ``on``, with Ray Data's join types and column layout.

    Arrow's hash join cannot carry list columns (signatures) as payload, so it joins row
    numbers only and gathers the columns with ``take``.
    """
    join_type = how.replace("_", " ")
    li = left.select(on).append_column("__l", pa.array(range(left.num_rows), pa.int64()))
    ri = right.select(on).append_column("__r", pa.array(range(right.num_rows), pa.int64()))
    if how in ("left_semi", "left_anti"):
        return left.take(li.join(ri.select(on), keys=on, join_type=join_type)["__l"])
    if how in ("right_semi", "right_anti"):
        return right.take(li.select(on).join(ri, keys=on, join_type=join_type)["__r"])
    j = li.join(ri, keys=on, join_type=join_type, coalesce_keys=True)
    columns = {name: j[name] for name in on}
    rest_left = left.drop_columns(on).take(j["__l"])
    rest_right = right.drop_columns(on).take(j["__r"])
    for t in (rest_left, rest_right):
        columns.update({name: t[name] for name in t.column_names})
    return pa.table(columns)


class LocalFrame:
    """The :class:`Frame` operations on one Arrow table in this process.

    For global work whose slim tables are small: each operation is a vectorized Arrow call,
    with none of a distributed shuffle's fixed cost. ``partition_map`` calls ``fn`` once
    with every row (a single partition holds every key).
    """

    def __init__(self, table: pa.Table) -> None:
        self._t = table

    def map_batches(self, fn: TableFn, *, resources: Resources | None = None) -> LocalFrame:
        return LocalFrame(fn(self._t))

    def map_blocks(self, fn: TableFn) -> LocalFrame:
        return LocalFrame(fn(self._t))

    def partition_map(self, key: str, fn: TableFn, *, num_partitions: int) -> LocalFrame:
        return LocalFrame(fn(self._t))

    def groupby_map(self, key: str | list[str], fn: TableFn) -> LocalFrame:
        keys = [key] if isinstance(key, str) else key
        t = self._t.sort_by([(k, "ascending") for k in keys])
        if t.num_rows == 0:
            return LocalFrame(t)
        boundaries = _group_starts(t, keys)
        parts = [fn(t.slice(a, b - a)) for a, b in itertools.pairwise(boundaries)]
        return LocalFrame(pa.concat_tables(parts, promote_options="default"))

    def join(
        self,
        other: Frame,
        on: list[str],
        how: str = "left_outer",
        *,
        num_partitions: int = 16,
    ) -> LocalFrame:
        return LocalFrame(arrow_join(self._t, other.to_arrow(), list(on), how))

    def union(self, other: Frame) -> LocalFrame:
        return LocalFrame(pa.concat_tables([self._t, other.to_arrow()], promote_options="default"))

    @property
    def column_names(self) -> list[str]:
        return list(self._t.column_names)

    def drop(self, columns: list[str]) -> LocalFrame:
        return LocalFrame(self._t.drop_columns([c for c in columns if c in self.column_names]))

    def select(self, columns: list[str]) -> LocalFrame:
        return LocalFrame(self._t.select(columns))

    def sum(self, column: str) -> int:
        return int(pc.sum(self._t[column]).as_py() or 0)

    def count(self) -> int:
        return self._t.num_rows

    def materialize(self) -> LocalFrame:
        return self

    def to_local(self) -> LocalFrame:
        return self

    def to_arrow(self) -> pa.Table:
        return self._t

    def iter_tables(self, batch_size: int | None = None) -> Iterator[pa.Table]:
        yield from (self._t.to_batches(batch_size) if batch_size else [self._t])

    def write_parquet(self, path: str) -> None:
        from corpusforge.pipeline.io import fsutil

        fsutil.atomic_write_parquet(fsutil.join(path, "part-00000.parquet"), self._t)


def _group_starts(t: pa.Table, keys: list[str]) -> list[int]:
    """Row offsets where a new key group starts in a sorted table, plus the end."""
    change = np.zeros(t.num_rows, dtype=bool)
    change[0] = True
    for k in keys:
        col = t[k].combine_chunks()
        change[1:] |= ~np.asarray(
            pc.equal(col.slice(1), col.slice(0, len(col) - 1)).fill_null(False)
        )
    return [*np.flatnonzero(change).tolist(), t.num_rows]


class LocalFrameSource:
    """Frames held in this process: for tests and runs small enough for one machine."""

    def read_parquet(self, path: str) -> LocalFrame:
        from corpusforge.pipeline.io import fsutil

        tables = [fsutil.read_parquet(u) for u in sorted(fsutil.listdir(path, ".parquet"))]
        if not tables:
            return LocalFrame(pa.table({}))
        return LocalFrame(pa.concat_tables(tables, promote_options="default"))

    def from_tables(self, tables: list[pa.Table]) -> LocalFrame:
        return LocalFrame(pa.concat_tables(tables, promote_options="default"))

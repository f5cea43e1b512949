"""DocFrame: the engine's view of distributed document data, handed to global stages.

Global stages (deduplication) need all-to-all operations: grouping by a key, joining. They get
them here, as a handful of table-in/table-out operations, so that stage code stays free of Ray
and can be unit-tested on a local backend. The Ray Data backend is the one runs use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from corpusforge.pipeline.stage import Resources

TableFn = Callable[[pa.Table], pa.Table]


class DocFrame:
    """A distributed table backed by a ``ray.data.Dataset``."""

    def __init__(self, ds: Any) -> None:
        self._ds = ds

    @property
    def dataset(self) -> Any:
        """The underlying Ray Dataset (engine use only)."""
        return self._ds

    @classmethod
    def from_tables(cls, tables: list[pa.Table]) -> DocFrame:
        import ray.data

        return cls(ray.data.from_arrow(tables))

    def map_batches(self, fn: TableFn, *, resources: Resources | None = None) -> DocFrame:
        res = resources or Resources()
        return DocFrame(
            self._ds.map_batches(
                fn,
                batch_format="pyarrow",
                batch_size=res.batch_size,
                num_cpus=res.num_cpus,
                num_gpus=res.num_gpus or None,
                concurrency=res.concurrency,
            )
        )

    def groupby_map(self, key: str | list[str], fn: TableFn) -> DocFrame:
        """Call ``fn`` once per group of rows sharing ``key`` (a distributed shuffle)."""
        return DocFrame(self._ds.groupby(key).map_groups(fn, batch_format="pyarrow"))

    def join(self, other: DocFrame, on: list[str], how: str = "left_outer") -> DocFrame:
        """Hash join on ``on`` (``inner``, ``left_outer``, ``right_outer``, ``full_outer``)."""
        num_partitions = 16  # a fixed fan-out keeps plans stable; tuned by the dedup stage
        return DocFrame(
            self._ds.join(other._ds, join_type=how, num_partitions=num_partitions, on=tuple(on))
        )

    def union(self, other: DocFrame) -> DocFrame:
        return DocFrame(self._ds.union(other._ds))

    def select(self, columns: list[str]) -> DocFrame:
        return DocFrame(self._ds.select_columns(columns))

    def materialize(self) -> DocFrame:
        return DocFrame(self._ds.materialize())

    def count(self) -> int:
        return int(self._ds.count())

    def iter_tables(self, batch_size: int | None = None) -> Iterator[pa.Table]:
        """Stream batches to the caller (for small results only: counts, samples)."""
        yield from self._ds.iter_batches(batch_format="pyarrow", batch_size=batch_size)

    def write_parquet(self, path: str) -> None:
        self._ds.write_parquet(path)

    @classmethod
    def read_parquet(cls, paths: str | list[str]) -> DocFrame:
        import ray.data

        return cls(ray.data.read_parquet(paths))

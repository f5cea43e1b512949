"""Output sinks: training formats written from the kept documents (token shards, ...).

The engine plans output shards from the kept documents of the last phase and calls
``write_shard`` once per shard (in a Ray task, or directly in tests). A sink returns one row per
document it wrote, so lineage can map any position of a shard back to its source document.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import pyarrow as pa

from corpusforge.pipeline.api.stage import StageParams

SINK_INDEX_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("shard", pa.string()),  # file name relative to the sink's output folder
        ("offset", pa.int64()),  # position of the document's first unit (token) in the shard
        ("count", pa.int64()),  # number of units (tokens) of the document
    ]
)


class Sink:
    """Base of an output sink. Subclasses set ``name`` and ``Params``, implement write_shard."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Params: ClassVar[type[StageParams]] = StageParams
    required_columns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: StageParams | dict[str, Any] | None = None) -> None:
        if isinstance(params, StageParams):
            self.params = params
        else:
            self.params = self.Params.model_validate(params or {})

    def write_shard(self, batches: Iterable[pa.Table], out_dir: str, shard_name: str) -> pa.Table:
        """Write ``batches`` (kept documents, in order) as shard ``shard_name`` under ``out_dir``.

        Must write atomically (temporary name, then rename) and return a table with
        :data:`SINK_INDEX_SCHEMA`, one row per document written.
        """
        raise NotImplementedError

    # ---- optional: what ``corpusforge forget`` and ``audit`` need (token sinks have them)
    def shard_files(self, shard: str) -> list[str]:
        """The files shard ``shard`` (as its index rows name it) consists of, in the order a
        rewrite puts them in place (the one that makes the shard complete last)."""
        return [shard]

    def shard_lengths(self, url: str) -> tuple[list[str] | None, list[int]]:
        """(doc ids when the shard stores them, units per document) of a written shard."""
        raise NotImplementedError(f"sink {self.name!r} cannot read its shards back")

    def rewrite_shard(
        self,
        url: str,
        drop: set[str],
        out_dir: str,
        shard_name: str,
        doc_ids: list[str] | None = None,
    ) -> pa.Table:
        """Write shard ``shard_name`` under ``out_dir`` with the documents of the shard at
        ``url`` except ``drop`` (``doc_ids``: the shard's documents in order, from lineage);
        returns index rows like :meth:`write_shard`."""
        raise NotImplementedError(f"sink {self.name!r} cannot rewrite its shards")

"""Small general-purpose stages: length limits and a pass-through."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api import reject, stage
from corpusforge.schemas import Col


@stage("passthrough")
def passthrough(batch: pa.Table) -> pa.Table:
    """Return documents unchanged (benchmarks of the engine's own overhead)."""
    return batch


@stage("length_filter")
def length_filter(batch: pa.Table, min_chars: int = 1, max_chars: int | None = None) -> pa.Table:
    """Reject documents shorter than min_chars or longer than max_chars characters."""
    n_chars = pc.utf8_length(batch.column(Col.TEXT))
    batch = reject(batch, pc.less(n_chars, min_chars), "too_short", pc.cast(n_chars, pa.string()))
    if max_chars is not None:
        batch = reject(
            batch, pc.greater(n_chars, max_chars), "too_long", pc.cast(n_chars, pa.string())
        )
    return batch

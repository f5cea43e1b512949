"""Which document of a duplicate cluster is kept, and marking the others.

Rank columns travel with the slim per-document tables (never the text): the keeper of a
cluster is the member with the smallest rank tuple. Documents kept by an earlier run (loaded
from its index) always rank first: they are already in someone's training data.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api import reject, set_column
from corpusforge.schemas import Col

KEEP_RULES = ("first", "longest", "quality")
CLUSTER_COLUMN = "dup_cluster"
SIZE_COLUMN = "dup_cluster_size"
KEEPER_COLUMN = "_dup_keeper"

RANK_PREV = "_rk_prev"  # 0 for documents kept by an earlier run, 1 for this run's
RANK_SCORE = "_rk_score"  # smaller is better: -length for "longest", -quality for "quality"
RANK_PATH = "_rk_path"
RANK_INDEX = "_rk_index"
RANK_COLUMNS = (RANK_PREV, RANK_SCORE, RANK_PATH, RANK_INDEX)
RANK_SCHEMA = pa.schema(
    [
        (Col.ID, pa.string()),
        (RANK_PREV, pa.int8()),
        (RANK_SCORE, pa.float64()),
        (RANK_PATH, pa.string()),
        (RANK_INDEX, pa.int64()),
    ]
)
RESULT_SCHEMA = pa.schema(
    [
        (Col.ID, pa.string()),
        (CLUSTER_COLUMN, pa.string()),
        (SIZE_COLUMN, pa.int64()),
        (KEEPER_COLUMN, pa.string()),
    ]
)


def rank_columns(batch: pa.Table, keep: str, quality_column: str | None) -> dict[str, pa.Array]:
    """Rank columns of this run's documents. "First seen" is input order: (path, index)."""
    n = batch.num_rows
    names = batch.column_names
    if keep == "first":
        score = pa.array(np.zeros(n))
    elif keep == "longest":
        score = pc.negate(pc.cast(pc.utf8_length(pc.fill_null(batch[Col.TEXT], "")), pa.float64()))
    elif keep == "quality":
        if not quality_column or quality_column not in names:
            raise ValueError(f"keep: quality needs the column {quality_column!r} in the documents")
        score = pc.fill_null(pc.negate(pc.cast(batch[quality_column], pa.float64())), np.inf)
    else:
        raise ValueError(f"keep must be one of {KEEP_RULES}, not {keep!r}")
    path = batch[Col.SOURCE_PATH] if Col.SOURCE_PATH in names else pa.nulls(n, pa.string())
    index = batch[Col.SOURCE_INDEX] if Col.SOURCE_INDEX in names else pa.nulls(n, pa.int64())
    return {
        RANK_PREV: pa.array(np.ones(n, dtype=np.int8)),
        RANK_SCORE: score,
        RANK_PATH: pc.fill_null(pc.cast(path, pa.string()), ""),
        RANK_INDEX: pc.fill_null(pc.cast(index, pa.int64()), 0),
    }


def previous_ranks(ids: pa.Array) -> dict[str, pa.Array]:
    n = len(ids)
    return {
        RANK_PREV: pa.array(np.zeros(n, dtype=np.int8)),
        RANK_SCORE: pa.array(np.zeros(n)),
        RANK_PATH: pa.array([""] * n, pa.string()),
        RANK_INDEX: pa.array(np.zeros(n, dtype=np.int64)),
    }


def best_first(key: str) -> list[tuple[str, str]]:
    """Sort order: by ``key``, and within it the best-ranked member (then the smallest id)
    first, so the first row of each run of ``key`` is its keeper."""
    return [(key, "ascending")] + [(c, "ascending") for c in (*RANK_COLUMNS, Col.ID)]


def run_starts(key: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Start positions of the runs of equal values of a sorted ``key``, and each row's run."""
    key = key.combine_chunks() if isinstance(key, pa.ChunkedArray) else key
    new = np.ones(len(key), dtype=bool)
    if len(key) > 1:
        new[1:] = pc.not_equal(key[1:], key[:-1]).to_numpy(zero_copy_only=False)
    return np.flatnonzero(new), np.cumsum(new) - 1


def choose_keepers(t: pa.Table, cluster_key: str) -> pa.Table:
    """Per cluster (all rows of a cluster are in ``t``): size and keeper id, one row per member.

    ``t`` has ``id``, ``cluster_key`` and the rank columns; duplicate rows are allowed.
    Only clusters of two or more members are returned.
    """
    if t.num_rows == 0:
        return RESULT_SCHEMA.empty_table()
    t = t.group_by([cluster_key, Col.ID, *RANK_COLUMNS], use_threads=False).aggregate([])
    t = t.sort_by(best_first(cluster_key))
    key = t[cluster_key].combine_chunks()
    starts, group = run_starts(key)
    sizes = np.diff(np.append(starts, t.num_rows))
    size = sizes[group]
    keeper = t[Col.ID].take(starts[group])
    multi = size > 1
    out = pa.table(
        {
            Col.ID: t[Col.ID],
            CLUSTER_COLUMN: pc.cast(key, pa.string()),
            SIZE_COLUMN: pa.array(size.astype(np.int64)),
            KEEPER_COLUMN: keeper,
        }
    )
    return out.filter(pa.array(multi)).cast(RESULT_SCHEMA)


def apply_results(batch: pa.Table, reason: str) -> pa.Table:
    """After joining results onto the documents: fill singletons, reject non-keepers."""
    n = batch.num_rows
    if CLUSTER_COLUMN not in batch.column_names:
        batch = set_column(batch, CLUSTER_COLUMN, pa.nulls(n, pa.string()))
        batch = set_column(batch, SIZE_COLUMN, pa.nulls(n, pa.int64()))
        batch = set_column(batch, KEEPER_COLUMN, pa.nulls(n, pa.string()))
    keeper = batch[KEEPER_COLUMN]
    size = pc.fill_null(pc.cast(batch[SIZE_COLUMN], pa.int64()), 1)
    batch = set_column(batch, SIZE_COLUMN, size)
    batch = set_column(batch, CLUSTER_COLUMN, pc.cast(batch[CLUSTER_COLUMN], pa.string()))
    dup = pc.fill_null(pc.not_equal(keeper, batch[Col.ID]), False)
    batch = reject(batch, dup, reason, keeper)
    return batch.drop_columns([KEEPER_COLUMN])

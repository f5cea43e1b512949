"""Keepers of clusters too large for one task: a two-level choice over salted pieces.

Choosing a keeper needs every member of a cluster in one call, so one giant cluster (a page
copied 100k times, a near-duplicate family of 1% of a corpus) would sit whole in one task.
Here each member goes to one of ``pieces`` pieces of its cluster (by a hash of its id, so a
member repeated in the input lands in one piece and is counted once); level 1 reduces each
piece to its member count and its best member, level 2 combines a cluster's pieces (at most
``pieces`` rows) into the cluster's size and keeper, and a last shuffle by piece hands the
result to every member. The keeper is the minimum of the pieces' minima, so the result
equals :func:`~corpusforge.stages.dedup.keep.choose_keepers` on the whole cluster.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api import Frame
from corpusforge.schemas import Col
from corpusforge.stages.dedup.keep import (
    CLUSTER_COLUMN,
    KEEPER_COLUMN,
    RANK_SCHEMA,
    RESULT_SCHEMA,
    SIZE_COLUMN,
    best_first,
    run_starts,
)
from corpusforge.stages.dedup.kernels import string_hashes

PIECE = "_piece"
PIECES = 16  # pieces per cluster: a giant cluster's largest task holds ~1/16 of it
_N = "_n"
_SALT_SEED = 0x5A17


def with_pieces(cluster_key: str, pieces: int = PIECES):
    """Block function: a ``_piece`` column, the cluster key and a salt from the member id."""

    def fn(t: pa.Table) -> pa.Table:
        salt = string_hashes(t[Col.ID], _SALT_SEED) % np.uint64(pieces)
        piece = pc.binary_join_element_wise(
            pc.cast(t[cluster_key], pa.string()), pc.cast(pa.array(salt), pa.string()), "#"
        )
        return t.append_column(PIECE, piece)

    return fn


def piece_summaries(cluster_key: str):
    """Level 1, per piece: distinct members (``_n``) and the best member's id and ranks."""

    schema = pa.schema(
        [(PIECE, pa.string()), (cluster_key, pa.string()), *RANK_SCHEMA, (_N, pa.int64())]
    )

    def fn(t: pa.Table) -> pa.Table:
        if t.num_rows == 0:  # Ray may hand an empty partition without columns
            return schema.empty_table()
        cols = [PIECE, cluster_key, *RANK_SCHEMA.names]
        t = t.select(cols).group_by(cols, use_threads=False).aggregate([])
        t = t.sort_by(best_first(PIECE))
        starts, group = run_starts(t[PIECE])
        counts = np.bincount(group, minlength=len(starts)).astype(np.int64)
        best = t.take(pa.array(starts))
        return best.append_column(_N, pa.array(counts)).cast(schema)

    return fn


def cluster_results(cluster_key: str):
    """Level 2, per cluster (all its pieces): ``(piece, cluster, size, keeper)`` per piece."""

    def fn(t: pa.Table) -> pa.Table:
        if t.num_rows == 0:
            return _RESULT_PIECES.empty_table()
        t = t.sort_by(best_first(cluster_key))
        starts, group = run_starts(t[cluster_key])
        sizes = np.bincount(group, weights=t[_N].to_numpy(), minlength=len(starts))
        return pa.table(
            {
                PIECE: t[PIECE],
                CLUSTER_COLUMN: pc.cast(t[cluster_key], pa.string()),
                SIZE_COLUMN: pa.array(sizes.astype(np.int64)[group]),
                KEEPER_COLUMN: t[Col.ID].take(pa.array(starts[group])),
            }
        ).cast(_RESULT_PIECES)

    return fn


_RESULT_PIECES = pa.schema(
    [
        (PIECE, pa.string()),
        (CLUSTER_COLUMN, pa.string()),
        (SIZE_COLUMN, pa.int64()),
        (KEEPER_COLUMN, pa.string()),
    ]
)
_HANDOUT = pa.schema(
    [
        (PIECE, pa.string()),
        (Col.ID, pa.string()),
        (CLUSTER_COLUMN, pa.string()),
        (SIZE_COLUMN, pa.int64()),
        (KEEPER_COLUMN, pa.string()),
    ]
)


def _member_rows(t: pa.Table) -> pa.Table:
    n = t.num_rows
    if n == 0:
        return _HANDOUT.empty_table()
    return pa.table(
        {
            PIECE: t[PIECE],
            Col.ID: t[Col.ID],
            CLUSTER_COLUMN: pa.nulls(n, pa.string()),
            SIZE_COLUMN: pa.nulls(n, pa.int64()),
            KEEPER_COLUMN: pa.nulls(n, pa.string()),
        }
    ).cast(_HANDOUT)


def _result_rows(t: pa.Table) -> pa.Table:
    if t.num_rows == 0:
        return _HANDOUT.empty_table()
    return t.append_column(Col.ID, pa.nulls(t.num_rows, pa.string())).select(_HANDOUT.names)


def hand_out(t: pa.Table) -> pa.Table:
    """Per piece: its result row (id null) onto each distinct member; clusters of 2 or more."""
    if t.num_rows == 0:
        return RESULT_SCHEMA.empty_table()
    is_result = pc.is_null(t[Col.ID])
    results = t.filter(is_result).select([PIECE, CLUSTER_COLUMN, SIZE_COLUMN, KEEPER_COLUMN])
    members = t.filter(pc.invert(is_result)).select([PIECE, Col.ID])
    members = members.group_by([PIECE, Col.ID], use_threads=False).aggregate([])
    out = members.join(results, PIECE, join_type="inner", use_threads=False)
    if out.num_rows == 0:
        return RESULT_SCHEMA.empty_table()
    out = out.filter(pc.greater(out[SIZE_COLUMN], 1))
    return out.select(RESULT_SCHEMA.names).cast(RESULT_SCHEMA)


def split_keepers(ranked: Frame, cluster_key: str, parts: int, pieces: int = PIECES) -> Frame:
    """:func:`choose_keepers` per cluster without any task holding a whole cluster.

    ``ranked``: ``id``, ``cluster_key`` and the rank columns (rows may repeat). Three shuffles:
    by piece (summaries), by cluster (at most ``pieces`` rows each), by piece (hand-out).
    """
    pieced = ranked.map_blocks(with_pieces(cluster_key, pieces)).materialize()
    summaries = pieced.partition_map(PIECE, piece_summaries(cluster_key), num_partitions=parts)
    results = summaries.partition_map(
        cluster_key, cluster_results(cluster_key), num_partitions=parts
    )
    both = pieced.map_blocks(_member_rows).union(results.map_blocks(_result_rows))
    return both.partition_map(PIECE, hand_out, num_partitions=parts)

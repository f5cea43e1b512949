"""Keepers of near-duplicate clusters, none of which sits whole in one task.

Input: the members of the connected components, ``(_doc, cluster)`` rows keyed by document
number (a cluster is named by its smallest number; rows may repeat), and one rank row per
document (``_doc``, ``id`` and the rank columns). Four shuffles:

1. by document number: each member meets its id and rank columns (``member_ranks``);
2. by piece: each member goes to one of ``pieces`` pieces of its cluster (a salt from its
   number); a piece is reduced to its member count, its best member and its smallest id;
3. by cluster (at most ``pieces`` rows each): the cluster's size, keeper (the best of the
   pieces' best) and label (the smallest of their smallest ids: the cluster's smallest id);
4. by piece again: the result is handed to every member.

So the result equals :func:`~corpusforge.stages.dedup.keep.choose_keepers` on whole clusters
(labelled by their smallest id), while the largest task holds 1/``pieces`` of a giant cluster
(a page copied 100k times, a near-duplicate family of 1% of a corpus).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api import Frame
from corpusforge.schemas import Col
from corpusforge.stages.dedup.graph import DOC, column
from corpusforge.stages.dedup.keep import (
    CLUSTER_COLUMN,
    KEEPER_COLUMN,
    RANK_COLUMNS,
    RANK_SCHEMA,
    SIZE_COLUMN,
    best_first,
    run_starts,
)
from corpusforge.stages.dedup.minhash import _mix64

PIECES = 16  # pieces per cluster: a giant cluster's largest task holds ~1/16 of it
SALT = "_salt"
ROUTE = "_route"  # shuffle key of a piece (a hash of cluster and salt: pieces may share one)
_N = "_n"
_MIN_ID = "_min_id"

RANK_ROW_SCHEMA = pa.schema([(DOC, pa.int64()), *RANK_SCHEMA])
# members and rank rows share it for their shuffle (a member row has no id and ranks, a rank
# row no cluster: the blocks a shuffle concatenates must share one schema)
_MEMBER_SCHEMA = pa.schema([(DOC, pa.int64()), ("cluster", pa.int64()), *RANK_SCHEMA])
RESULT_SCHEMA = pa.schema(
    [
        (DOC, pa.int64()),
        (Col.ID, pa.string()),
        (CLUSTER_COLUMN, pa.string()),
        (SIZE_COLUMN, pa.int64()),
        (KEEPER_COLUMN, pa.string()),
    ]
)


def rank_rows(numbers):
    """Block function: ``(_doc, id, rank columns)`` of a slim table."""

    def fn(t: pa.Table) -> pa.Table:
        if t.num_rows == 0:
            return RANK_ROW_SCHEMA.empty_table()
        cols = {DOC: numbers(t[Col.ID])} | {c: t[c] for c in RANK_SCHEMA.names}
        return pa.table(cols).cast(RANK_ROW_SCHEMA)

    return fn


def _widen(schema: pa.Schema):
    """Block function: the columns of ``schema`` (absent ones null), in its order."""

    def fn(t: pa.Table) -> pa.Table:
        cols = {
            f.name: t[f.name] if f.name in t.column_names else pa.nulls(t.num_rows, f.type)
            for f in schema
        }
        return pa.table(cols).cast(schema)

    return fn


def member_ranks(t: pa.Table) -> pa.Table:
    """Shuffle 1, one partition by number: members ``(_doc, cluster)`` (repeated) and rank rows
    in; one row per member with its id and best rank row out."""
    if t.num_rows == 0 or "cluster" not in t.column_names or Col.ID not in t.column_names:
        return _MEMBER_SCHEMA.empty_table()
    is_member = pc.is_valid(t["cluster"])
    members = t.filter(is_member).select([DOC, "cluster"])
    members = members.group_by([DOC, "cluster"], use_threads=False).aggregate([])
    ranks = t.filter(pc.invert(is_member)).select(RANK_ROW_SCHEMA.names).cast(RANK_ROW_SCHEMA)
    # the same id twice (this run and an earlier one) has two rank rows: the best one counts
    ranks = ranks.sort_by(best_first(DOC))
    ranks = ranks.take(pa.array(run_starts(ranks[DOC])[0]))
    out = members.join(ranks, DOC, join_type="inner", use_threads=False)
    return out.select(_MEMBER_SCHEMA.names).cast(_MEMBER_SCHEMA)


def _salt(doc: np.ndarray, pieces: int) -> np.ndarray:
    return (_mix64(doc.astype(np.uint64)) % np.uint64(pieces)).astype(np.int64)


def _route(cluster: np.ndarray, salt: np.ndarray) -> np.ndarray:
    return _mix64(cluster.astype(np.uint64) * np.uint64(PIECES + 1) + salt.astype(np.uint64))


def with_pieces(pieces: int):
    """Block function: a member's piece (``_salt``) and that piece's shuffle key."""

    def fn(t: pa.Table) -> pa.Table:
        salt = _salt(column(t, DOC, np.int64), pieces)
        route = _route(column(t, "cluster", np.int64), salt)
        return t.append_column(SALT, pa.array(salt)).append_column(ROUTE, pa.array(route))

    return fn


def _firsts(t: pa.Table, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``t``: first row of each run of equal ``keys`` and each row's run number."""
    new = np.zeros(t.num_rows, dtype=bool)
    if t.num_rows:
        new[0] = True
        for k in keys:
            a = column(t, k, np.int64)
            new[1:] |= a[1:] != a[:-1]
    return np.flatnonzero(new), np.cumsum(new) - 1


_SUMMARY_SCHEMA = pa.schema(
    [
        ("cluster", pa.int64()),
        (SALT, pa.int64()),
        (ROUTE, pa.uint64()),
        *RANK_SCHEMA,
        (_N, pa.int64()),
        (_MIN_ID, pa.string()),
    ]
)


def _best_first(keys: list[str]) -> list[tuple[str, str]]:
    return [(k, "ascending") for k in keys] + best_first(keys[-1])[1:]


def piece_summaries(t: pa.Table) -> pa.Table:
    """Shuffle 2, per piece: member count, best member (id and ranks), smallest id."""
    if t.num_rows == 0:
        return _SUMMARY_SCHEMA.empty_table()
    keys = ["cluster", SALT]
    smallest = t.group_by(keys, use_threads=False).aggregate([(Col.ID, "min")])
    t = t.sort_by(_best_first(keys))
    starts, group = _firsts(t, keys)
    best = t.take(pa.array(starts)).drop_columns([DOC])
    best = best.append_column(_N, pa.array(np.bincount(group).astype(np.int64)))
    out = best.join(smallest.rename_columns([*keys, _MIN_ID]), keys, use_threads=False)
    return out.select(_SUMMARY_SCHEMA.names).cast(_SUMMARY_SCHEMA)


_PIECE_RESULT_SCHEMA = pa.schema(
    [
        ("cluster", pa.int64()),
        (SALT, pa.int64()),
        (ROUTE, pa.uint64()),
        (CLUSTER_COLUMN, pa.string()),
        (SIZE_COLUMN, pa.int64()),
        (KEEPER_COLUMN, pa.string()),
    ]
)


def cluster_results(t: pa.Table) -> pa.Table:
    """Shuffle 3, per cluster (all its pieces): label, size and keeper onto each piece."""
    if t.num_rows == 0:
        return _PIECE_RESULT_SCHEMA.empty_table()
    t = t.sort_by(_best_first(["cluster"]))
    starts, group = _firsts(t, ["cluster"])
    sizes = np.bincount(group, weights=column(t, _N, np.int64)).astype(np.int64)
    labels = pa.table({"g": group, "id": t[_MIN_ID]}).group_by("g").aggregate([("id", "min")])
    labels = labels.sort_by("g")["id_min"]
    return pa.table(
        {
            "cluster": t["cluster"],
            SALT: t[SALT],
            ROUTE: t[ROUTE],
            CLUSTER_COLUMN: labels.take(pa.array(group)),
            SIZE_COLUMN: sizes[group],
            KEEPER_COLUMN: t[Col.ID].take(pa.array(starts[group])),
        }
    ).cast(_PIECE_RESULT_SCHEMA)


_HANDOUT_SCHEMA = pa.schema(
    [
        ("cluster", pa.int64()),
        (SALT, pa.int64()),
        (ROUTE, pa.uint64()),
        (DOC, pa.int64()),
        (Col.ID, pa.string()),
        *list(_PIECE_RESULT_SCHEMA)[3:],
    ]
)


def hand_out(t: pa.Table) -> pa.Table:
    """Shuffle 4, per piece: its result onto each of its members."""
    if t.num_rows == 0 or SIZE_COLUMN not in t.column_names or DOC not in t.column_names:
        return RESULT_SCHEMA.empty_table()
    is_result = pc.is_valid(t[SIZE_COLUMN])
    keys = ["cluster", SALT]
    results = t.filter(is_result).select([*keys, CLUSTER_COLUMN, SIZE_COLUMN, KEEPER_COLUMN])
    members = t.filter(pc.invert(is_result)).select([*keys, DOC, Col.ID])
    out = members.join(results, keys, join_type="inner", use_threads=False)
    out = out.filter(pc.greater(out[SIZE_COLUMN], 1))
    return out.select(RESULT_SCHEMA.names).cast(RESULT_SCHEMA)


def split_keepers(
    members: Frame,
    ranks: Frame,
    parts: int,
    member_parts: int | None = None,
    pieces: int = PIECES,
) -> Frame:
    """``(_doc, id, dup_cluster, dup_cluster_size, _dup_keeper)`` of every cluster member.

    ``members``: ``(_doc, cluster)`` rows (may repeat); ``ranks``: ``(_doc, id, rank
    columns)`` of every document (earlier runs' included). ``parts``: fan-out of the first
    shuffle (every document), ``member_parts`` of the three others (members only)."""
    member_parts = member_parts or parts
    both = members.map_blocks(_widen(_MEMBER_SCHEMA)).union(
        ranks.map_blocks(_widen(_MEMBER_SCHEMA))
    )
    ranked = both.partition_map(DOC, member_ranks, num_partitions=parts)
    pieced = ranked.map_blocks(with_pieces(pieces)).materialize()
    summaries = pieced.partition_map(ROUTE, piece_summaries, num_partitions=member_parts)
    results = summaries.partition_map("cluster", cluster_results, num_partitions=member_parts)
    handout = pieced.map_blocks(_widen(_HANDOUT_SCHEMA)).union(
        results.map_blocks(_widen(_HANDOUT_SCHEMA))
    )
    return handout.partition_map(ROUTE, hand_out, num_partitions=member_parts)


__all__ = ["PIECES", "RANK_COLUMNS", "RESULT_SCHEMA", "rank_rows", "split_keepers"]

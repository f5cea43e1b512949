"""Candidate pairs from LSH buckets and distributed connected components.

Both run on a :class:`Frame` with vectorized per-partition functions: rows are hash-shuffled
by a key so that every row of a key is in one call, and each call sorts and aggregates with
Arrow. Nothing is collected on the driver except counts.

Connected components alternate the *large-star* and *small-star* operations of Kiveris et al.,
"Connected Components in MapReduce and Beyond" (SoCC 2014): each is one shuffle of the edge
list by node, and they converge in O(log^2 n) rounds to one star per component centered on its
smallest node id, whatever the component's diameter (a chain of near duplicates included).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api import Frame

EDGE_SCHEMA = pa.schema([("u", pa.string()), ("v", pa.string())])  # canonical: u > v
# candidate pairs: ``same`` = 1 when both signatures are identical (nothing left to verify)
CANDIDATE_SCHEMA = pa.schema([("u", pa.string()), ("v", pa.string()), ("same", pa.int8())])
_CHECK_SCHEMA = pa.schema([("u", pa.string()), ("v", pa.string()), ("bad", pa.int64())])

ALL_PAIRS_MAX = 16  # a bucket with up to this many distinct signatures: every pair
WINDOW = 8  # above it: each distinct signature with the next WINDOW ones (linear, not n^2)


class ComponentsDidNotConverge(RuntimeError):
    pass


def _unique_edges(u: pa.Array, v: pa.Array) -> pa.Table:
    t = pa.table({"u": u, "v": v})
    t = t.filter(pc.not_equal(t["u"], t["v"]))
    return t.group_by(["u", "v"], use_threads=False).aggregate([]).cast(EDGE_SCHEMA)


def unique_candidates(t: pa.Table) -> pa.Table:
    """Candidate pairs once each (a close pair collides in many bands); ``same`` kept if any."""
    if t.num_rows == 0:
        return CANDIDATE_SCHEMA.empty_table()
    g = t.group_by(["u", "v"], use_threads=False).aggregate([("same", "max")])
    return g.rename_columns(["u", "v", "same"]).cast(CANDIDATE_SCHEMA)


def _canonical(ids: pa.Array, rank: np.ndarray, a: np.ndarray, b: np.ndarray, same: int):
    """Pairs of row positions as ``(u, v)`` with ``u`` the larger id."""
    swap = rank[a] < rank[b]
    hi, lo = np.where(swap, b, a), np.where(swap, a, b)
    return pa.table(
        {"u": ids.take(hi), "v": ids.take(lo), "same": pa.array(np.full(len(a), same, np.int8))}
    )


def bucket_edges(t: pa.Table) -> pa.Table:
    """Candidate pairs of one partition of band rows ``(k, id, g)``, linear in bucket size.

    ``g`` keys the whole signature. Inside a bucket, members with identical signatures are
    collapsed onto the smallest id among them (one ``same`` pair each: a bucket of 100k
    identical boilerplate pages costs 100k pairs, never 10^10). The distinct signatures left
    are paired all with all when there are at most ``ALL_PAIRS_MAX``, else each with the next
    ``WINDOW`` in key order: at most ``WINDOW`` pairs per member either way.
    """
    if t.num_rows == 0:
        return CANDIDATE_SCHEMA.empty_table()
    t = t.sort_by([("k", "ascending"), ("g", "ascending"), ("id", "ascending")])
    ids = t["id"].combine_chunks()
    rank = np.empty(len(ids), dtype=np.int64)
    rank[pc.sort_indices(ids).to_numpy()] = np.arange(len(ids))
    k, g = t["k"].to_numpy(), t["g"].to_numpy()
    n = len(k)
    new_bucket = np.ones(n, dtype=bool)
    new_bucket[1:] = k[1:] != k[:-1]
    new_group = new_bucket.copy()
    new_group[1:] |= g[1:] != g[:-1]
    head = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    child = np.flatnonzero(~new_group)
    parts = [_canonical(ids, rank, child, head[child], 1)]

    reps = np.flatnonzero(new_group)  # one row per distinct signature of each bucket
    bucket = (np.cumsum(new_bucket) - 1)[reps]
    size = np.bincount(bucket)[bucket]  # distinct signatures in the member's bucket
    reach = np.where(size <= ALL_PAIRS_MAX, ALL_PAIRS_MAX - 1, WINDOW)
    for d in range(1, max(ALL_PAIRS_MAX - 1, WINDOW) + 1):
        a = np.arange(len(reps) - d)
        ok = (bucket[a] == bucket[a + d]) & (d <= reach[a])
        if not ok.any():
            break
        parts.append(_canonical(ids, rank, reps[a[ok]], reps[a[ok] + d], 0))
    return unique_candidates(pa.concat_tables(parts))


def _with_reverse(t: pa.Table) -> pa.Table:
    fwd = pa.table({"node": t["u"], "nbr": t["v"]})
    rev = pa.table({"node": t["v"], "nbr": t["u"]})
    return pa.concat_tables([fwd, rev])


def _large_star_and_check(t: pa.Table) -> pa.Table:
    """Large-star on one partition of ``(node, nbr)`` rows, plus the convergence check.

    Large-star links every larger neighbor of a node to the smallest node of its closed
    neighborhood. The check counts nodes that break the "stars centered on minima" shape:
    more than one smaller neighbor, or both smaller and larger neighbors. It is reported in a
    row with null ids so that it travels with the edges (partition blocks are not split).
    """
    if t.num_rows == 0:
        return _CHECK_SCHEMA.empty_table()
    g = t.group_by("node", use_threads=False).aggregate([("nbr", "min")])
    j = t.join(g, "node")
    m = pc.min_element_wise(j["node"], j["nbr_min"])
    bigger = pc.greater(j["nbr"], j["node"])
    out = _unique_edges(pc.filter(j["nbr"], bigger), pc.filter(m, bigger))

    smaller_rows = t.filter(pc.less(t["nbr"], t["node"]))
    n_small = smaller_rows.group_by("node", use_threads=False).aggregate(
        [("nbr", "count_distinct")]
    )
    multi_parent = int(pc.sum(pc.greater(n_small["nbr_count_distinct"], 1)).as_py() or 0)
    larger_nodes = pc.unique(pc.filter(t["node"], pc.greater(t["nbr"], t["node"])))
    both = int(pc.sum(pc.is_in(n_small["node"], value_set=larger_nodes)).as_py() or 0)
    bad = pa.table(
        {"u": pa.nulls(1, pa.string()), "v": pa.nulls(1, pa.string()), "bad": [multi_parent + both]}
    )
    edges = out.append_column("bad", pa.array(np.zeros(out.num_rows, dtype=np.int64)))
    return pa.concat_tables([edges.cast(_CHECK_SCHEMA), bad.cast(_CHECK_SCHEMA)])


def _small_star(t: pa.Table) -> pa.Table:
    """Small-star on one partition of canonical edges grouped by ``u``: a node and all its
    smaller neighbors are linked to the smallest of them."""
    t = t.filter(pc.is_valid(t["u"])).select(["u", "v"])
    if t.num_rows == 0:
        return EDGE_SCHEMA.empty_table()
    g = t.group_by("u", use_threads=False).aggregate([("v", "min")])
    j = t.join(g, "u")
    keep = pc.not_equal(j["v"], j["v_min"])
    v_kept = pc.filter(j["v"], keep).combine_chunks()
    m_kept = pc.filter(j["v_min"], keep).combine_chunks()
    u = pa.concat_arrays([v_kept, g["u"].combine_chunks()])
    v = pa.concat_arrays([m_kept, g["v_min"].combine_chunks()])
    return _unique_edges(u, v)


def connected_components(
    edges: Frame, *, num_partitions: int, max_rounds: int = 64
) -> tuple[Frame, int]:
    """Star edges ``(u, v)``: every non-root node ``u`` with ``v`` its component's min id.

    ``edges`` are canonical (``u > v``). Returns the converged edges and the rounds taken;
    raises :class:`ComponentsDidNotConverge` after ``max_rounds``.
    """
    current = edges.materialize()
    for rounds in range(1, max_rounds + 1):
        large = current.map_blocks(_with_reverse).partition_map(
            "node", _large_star_and_check, num_partitions=num_partitions
        )
        large = large.materialize()
        if large.sum("bad") == 0:
            return current, rounds
        current = large.partition_map("u", _small_star, num_partitions=num_partitions)
        current = current.materialize()
    raise ComponentsDidNotConverge(
        f"connected components did not converge in {max_rounds} rounds; raise max_rounds "
        "(each round halves component depth, so this points to a bug or a huge graph)"
    )


def star_members(t: pa.Table) -> pa.Table:
    """Converged star edges to ``(id, cluster)`` rows, roots included (may repeat)."""
    t = t.select(["u", "v"])
    return pa.concat_tables(
        [
            pa.table({"id": t["u"], "cluster": t["v"]}),
            pa.table({"id": t["v"], "cluster": t["v"]}),
        ]
    )

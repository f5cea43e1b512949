"""Candidate edges from LSH buckets and distributed connected components.

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
_CHECK_SCHEMA = pa.schema([("u", pa.string()), ("v", pa.string()), ("bad", pa.int64())])


class ComponentsDidNotConverge(RuntimeError):
    pass


def _unique_edges(u: pa.Array, v: pa.Array) -> pa.Table:
    t = pa.table({"u": u, "v": v})
    t = t.filter(pc.not_equal(t["u"], t["v"]))
    return t.group_by(["u", "v"], use_threads=False).aggregate([]).cast(EDGE_SCHEMA)


def bucket_edges(t: pa.Table) -> pa.Table:
    """Edges of one partition of band rows ``(k, id)``: per bucket, every member to its head.

    The head is the member with the smallest id, so there are ``size - 1`` edges per bucket
    (linear, never all pairs) and the edges come out canonical (``u > v``). A star rather than
    a chain keeps every bucket's diameter at 2, which the component step converges on fastest.
    """
    if t.num_rows == 0:
        return EDGE_SCHEMA.empty_table()
    t = t.sort_by([("k", "ascending"), ("id", "ascending")])
    k = t["k"].to_numpy()
    n = len(k)
    new = np.ones(n, dtype=bool)
    new[1:] = k[1:] != k[:-1]
    head = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    child = np.flatnonzero(~new)
    ids = t["id"]
    return _unique_edges(ids.take(child), ids.take(head[child]))


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

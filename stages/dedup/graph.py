"""Candidate pairs from LSH buckets and distributed connected components, on document numbers.

Everything here works on int64 document numbers (:mod:`corpusforge.stages.dedup.numbers`) and
uint64 band keys with vectorized NumPy (and one numba union-find), once per partition of a
:class:`Frame`: rows are hash-shuffled by a key so that every row of a key is in one call.
Nothing is collected on the driver except counts.

Connected components, in two steps:

1. **Contraction by bucket** (:func:`contract`): every verified edge remembers one LSH bucket
   that produced it (``lk``, a 32-bit key of the bucket), and the edges are shuffled by it, so
   that the edges of one bucket meet in one call; a union-find there turns each local component
   into a star on its smallest number. The long windowed chains of a big bucket (each distinct
   signature linked to the next ``WINDOW`` ones, so a diameter of size / 8) collapse here in one
   pass; memory is that of the partition's edges.
2. **Large-star / small-star** rounds (Kiveris et al., "Connected Components in MapReduce and
   Beyond", SoCC 2014) on the contracted graph: each operation is one shuffle of the edge list
   by node and never increases the number of edges; they converge to one star per component
   centered on its smallest number. Three rounds make one Ray execution, followed by a
   map-only read of their convergence counts.
"""

from __future__ import annotations

from functools import partial

import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api import Frame
from corpusforge.stages.dedup.kernels import bucket_pairs_kernel, unique_pairs_kernel

DOC = "_doc"  # the document number column of slim tables

# band rows: band key, whole-signature key, document number, band index
BAND_SCHEMA = pa.schema(
    [("k", pa.uint64()), ("g", pa.uint64()), (DOC, pa.int64()), ("j", pa.uint8())]
)
OLD_COLUMN = "_old"  # 1 for documents of an earlier run's index (no text in this phase)
# Rows of the candidate and verification shuffles, keyed by ``key``, in one schema (the
# blocks a shuffle concatenates must share theirs), told apart by ``kind``:
PAIR = 0  # a candidate pair to verify: key = u > other = v (or key = v, other = u)
SAME = 1  # a pair of identical signatures: accepted without verification
MARKER = 2  # key is the smaller end of a pair to verify: its signature is wanted there
SIGNATURE = 3  # key's signature (``sig``), ``other`` a second hash of its id, ``_old``
COLLISION = 4  # two ids share the number ``key``
ROW_SCHEMA = pa.schema(
    [
        ("key", pa.int64()),
        ("other", pa.int64()),
        ("kind", pa.int8()),
        ("lk", pa.uint32()),  # pairs: high 32 bits of the band key of a bucket that made them
        (OLD_COLUMN, pa.int8()),
        ("sig", pa.large_list(pa.uint32())),  # null where there is none (costs no values)
    ]
)
EDGE_SCHEMA = pa.schema([("u", pa.int64()), ("v", pa.int64())])  # canonical: u > v
LOCAL_EDGE_SCHEMA = pa.schema([("u", pa.int64()), ("v", pa.int64()), ("lk", pa.uint32())])
_NODE_SCHEMA = pa.schema([("node", pa.int64()), ("nbr", pa.int64())])

ALL_PAIRS_MAX = 16  # a bucket with up to this many distinct signatures: every pair
WINDOW = 8  # above it: each distinct signature with the next WINDOW ones (linear, not n^2)


class ComponentsDidNotConverge(RuntimeError):
    pass


def column(t: pa.Table, name: str, dtype: type, fill: int = 0) -> np.ndarray:
    """A column as a NumPy array (``fill`` for nulls, or for every row where it is missing:
    a partition that got rows of one kind only has none of the other kind's columns)."""
    if name not in t.column_names:
        return np.full(t.num_rows, fill, dtype=dtype)
    col = t[name]
    if col.null_count:
        col = col.fill_null(fill)
    return col.to_numpy().astype(dtype, copy=False)


def _runs(*keys: np.ndarray) -> np.ndarray:
    """Start flags of runs of equal ``keys`` tuples in sorted arrays."""
    n = len(keys[0])
    new = np.zeros(n, dtype=bool)
    if n:
        new[0] = True
        for k in keys:
            new[1:] |= k[1:] != k[:-1]
    return new


def rows_table(
    key: np.ndarray,
    other: np.ndarray,
    kind: np.ndarray | int,
    lk: np.ndarray | None = None,
    old: np.ndarray | None = None,
    sig: pa.Array | None = None,
) -> pa.Table:
    """Rows in ``ROW_SCHEMA`` (zeros for a missing ``lk``/``old``, null signatures)."""
    n = len(key)
    zeros = np.zeros(n, np.int8)
    return pa.table(
        {
            "key": key,
            "other": other,
            "kind": np.broadcast_to(np.int8(kind), n) if np.isscalar(kind) else kind,
            "lk": zeros.astype(np.uint32) if lk is None else lk,
            OLD_COLUMN: zeros if old is None else old,
            "sig": pa.nulls(n, ROW_SCHEMA.field("sig").type) if sig is None else sig,
        },
        schema=ROW_SCHEMA,
    )


def unique_pairs(
    u: np.ndarray, v: np.ndarray, kind: np.ndarray, lk: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each pair once: ``SAME`` if any copy says so, the smallest bucket key ``lk``."""
    if len(u) == 0:
        return u, v, kind, lk
    return unique_pairs_kernel(
        u.astype(np.int64, copy=False),
        v.astype(np.int64, copy=False),
        kind.astype(np.int8, copy=False),
        lk.astype(np.uint32, copy=False),
    )


def bucket_pairs(t: pa.Table) -> pa.Table:
    """Candidate pairs of one partition of band rows ``(k, g, _doc, j)``, linear in bucket size.

    ``g`` keys the whole signature. Inside a bucket, members with identical signatures are
    collapsed onto the smallest number among them (one ``SAME`` pair each, made in band 0
    only, which every such group shares: a bucket of 100k identical boilerplate pages costs
    100k pairs, never 10^10, and not once per band). The distinct signatures left are paired
    all with all when there are at most ``ALL_PAIRS_MAX``, else each with the next ``WINDOW``
    in signature-key order: at most ``WINDOW`` pairs per member either way. Pairs are
    ``(key=u, other=v)`` with ``u > v``, once per partition, with the smallest ``lk`` (high 32
    bits of the band key) of the buckets that produced them; plus one ``MARKER`` row per ``v``
    of a pair that still needs verifying (its signature is wanted there).
    """
    if t.num_rows == 0:
        return ROW_SCHEMA.empty_table()
    k, g = column(t, "k", np.uint64), column(t, "g", np.uint64)
    doc, band = column(t, DOC, np.int64), column(t, "j", np.uint8)
    a, b, kind = bucket_pairs_kernel(k, g, doc, band, np.argsort(k), ALL_PAIRS_MAX, WINDOW)
    lk = (k[a] >> np.uint64(32)).astype(np.uint32)
    u, v = np.maximum(doc[a], doc[b]), np.minimum(doc[a], doc[b])
    distinct = u != v  # the same id twice (an earlier run's copy) is one node
    u, v, kind, lk = unique_pairs(u[distinct], v[distinct], kind[distinct], lk[distinct])
    marked = np.unique(v[kind == PAIR])
    return pa.concat_tables(
        [rows_table(u, v, kind, lk), rows_table(marked, np.zeros_like(marked), MARKER)]
    )


# ----------------------------------------------------------------------------- components


@nb.njit(cache=True)
def _find(parent: np.ndarray, x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]  # path halving
        x = parent[x]
    return x


@nb.njit(cache=True)
def _union_find_roots(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Root (smallest index) of every node 0..n-1 after joining ``a[i]`` with ``b[i]``."""
    parent = np.arange(n)
    for i in range(len(a)):
        x, y = _find(parent, a[i]), _find(parent, b[i])
        if x < y:
            parent[y] = x
        elif y < x:
            parent[x] = y
    for i in range(n):
        parent[i] = _find(parent, i)
    return parent


def local_stars(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The components of these edges as stars: ``(node, smallest node of its component)``
    for every node that is not that smallest one."""
    nodes, inverse = np.unique(np.concatenate([u, v]), return_inverse=True)
    m = len(u)
    roots = _union_find_roots(inverse[:m], inverse[m:], len(nodes))
    child = roots != np.arange(len(nodes))
    return nodes[child], nodes[roots[child]]


def contract(t: pa.Table) -> pa.Table:
    """Step 1 on one partition of verified edges grouped by bucket key: local stars."""
    if t.num_rows == 0:
        return EDGE_SCHEMA.empty_table()
    u, v = local_stars(column(t, "u", np.int64), column(t, "v", np.int64))
    return pa.table({"u": u, "v": v}, schema=EDGE_SCHEMA)


def _split_checks(
    u: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges apart from check rows (``u < 0``: ``-round``, ``v`` its count), the latter summed
    per round."""
    check = u < 0
    tags, inverse = np.unique(u[check], return_inverse=True)
    sums = np.bincount(inverse, weights=v[check], minlength=len(tags)).astype(np.int64)
    return u[~check], v[~check], tags, sums


def both_ways(t: pa.Table) -> pa.Table:
    """Edges as ``(node, nbr)`` rows in both directions (check rows pass once, as they are)."""
    u, v, tags, sums = _split_checks(column(t, "u", np.int64), column(t, "v", np.int64))
    return pa.table(
        {"node": np.concatenate([u, v, tags]), "nbr": np.concatenate([v, u, sums])},
        schema=_NODE_SCHEMA,
    )


def _edges(u: np.ndarray, v: np.ndarray, tags: np.ndarray, sums: np.ndarray) -> pa.Table:
    """Distinct non-loop edges, then the check rows."""
    keep = u != v
    u, v = u[keep], v[keep]
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    first = _runs(u, v)
    u, v = np.concatenate([u[first], tags]), np.concatenate([v[first], sums])
    return pa.table({"u": u, "v": v}, schema=EDGE_SCHEMA)


def large_star(t: pa.Table, round_tag: int = -1) -> pa.Table:
    """Large-star on one partition of ``(node, nbr)`` rows, plus the convergence check.

    Large-star links every larger neighbor of a node to the smallest node of its closed
    neighborhood. The check counts nodes that break the "stars centered on minima" shape:
    more than one smaller neighbor, or both smaller and larger neighbors. It travels as an
    edge row ``(round_tag, count)`` (negative: no document has that number), with those of
    earlier rounds of the same execution.
    """
    node, nbr, tags, sums = _split_checks(column(t, "node", np.int64), column(t, "nbr", np.int64))
    tags, sums = np.append(tags, round_tag), np.append(sums, 0)
    if len(node) == 0:
        return _edges(node, nbr, tags, sums)
    order = np.lexsort((nbr, node))
    node, nbr = node[order], nbr[order]
    first = _runs(node, nbr)
    node, nbr = node[first], nbr[first]  # distinct (node, nbr)
    starts = np.flatnonzero(_runs(node))
    group = np.cumsum(_runs(node)) - 1
    low = np.minimum(np.minimum.reduceat(nbr, starts), node[starts])
    bigger = nbr > node
    larger = np.add.reduceat(bigger.astype(np.int64), starts)
    smaller = np.diff(np.append(starts, len(node))) - larger
    sums[-1] = int(((smaller > 1) | ((smaller > 0) & (larger > 0))).sum())
    return _edges(nbr[bigger], low[group[bigger]], tags, sums)


def small_star(t: pa.Table) -> pa.Table:
    """Small-star on one partition of canonical edges grouped by ``u``: a node and all its
    smaller neighbors are linked to the smallest of them. Check rows pass through."""
    u, v, tags, sums = _split_checks(column(t, "u", np.int64), column(t, "v", np.int64))
    if len(u) == 0:
        return _edges(u, v, tags, sums)
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    starts = np.flatnonzero(_runs(u))
    group = np.cumsum(_runs(u)) - 1
    low = v[starts]  # sorted by (u, v): the first v of each u is the smallest
    return _edges(np.concatenate([v, u[starts]]), np.concatenate([low[group], low]), tags, sums)


def _check_counts(rounds: int):
    """Block function: the check count of each round of an execution, one row per block."""
    schema = pa.schema([(f"bad{r}", pa.int64()) for r in range(1, rounds + 1)])

    def fn(t: pa.Table) -> pa.Table:
        u, v = column(t, "u", np.int64), column(t, "v", np.int64)
        return pa.table([[int(v[u == -r].sum())] for r in range(1, rounds + 1)], schema=schema)

    return fn


def _no_checks(t: pa.Table) -> pa.Table:
    u, v, _, _ = _split_checks(column(t, "u", np.int64), column(t, "v", np.int64))
    return pa.table({"u": u, "v": v}, schema=EDGE_SCHEMA)


ROUNDS_PER_EXECUTION = 3  # each Ray execution has seconds of fixed cost: batch the rounds


def connected_components(
    edges: Frame, *, num_partitions: int, max_rounds: int = 64
) -> tuple[Frame, int]:
    """Star edges ``(u, v)``: every non-root node ``u`` with ``v`` its component's smallest
    number. ``edges`` are canonical (``u > v``), e.g. the output of :func:`contract`.

    A round is large-star then small-star; its check count says whether the round's input was
    already a set of stars, which both operations return unchanged. Rounds run
    ``ROUNDS_PER_EXECUTION`` to an execution (one more round is a shuffle of the edges, an
    execution seconds of fixed cost), their counts read together afterwards: the output of
    the execution is the stars as soon as one of its rounds found them. Returns the stars and
    the rounds taken (up to the first that found its input converged); raises
    :class:`ComponentsDidNotConverge` after ``max_rounds``.
    """
    current, done = edges, 0
    while done < max_rounds:
        batch = min(ROUNDS_PER_EXECUTION, max_rounds - done)
        out = current
        for r in range(1, batch + 1):
            out = out.map_blocks(both_ways).partition_map(
                "node", partial(large_star, round_tag=-r), num_partitions=num_partitions
            )
            out = out.partition_map("u", small_star, num_partitions=num_partitions)
        out = out.materialize()
        counts = out.map_blocks(_check_counts(batch)).to_arrow()
        for r in range(1, batch + 1):
            if int(pc.sum(counts[f"bad{r}"]).as_py() or 0) == 0:
                return out.map_blocks(_no_checks), done + r
        current, done = out.map_blocks(_no_checks), done + batch
    raise ComponentsDidNotConverge(
        f"connected components did not converge in {max_rounds} rounds; raise max_rounds "
        "(each round halves component depth, so this points to a bug or a huge graph)"
    )


MEMBER_SCHEMA = pa.schema([(DOC, pa.int64()), ("cluster", pa.int64())])


def star_members(t: pa.Table) -> pa.Table:
    """Converged star edges to ``(_doc, cluster)`` rows, roots included (they repeat)."""
    u, v, _, _ = _split_checks(column(t, "u", np.int64), column(t, "v", np.int64))
    return pa.table(
        {DOC: np.concatenate([u, v]), "cluster": np.concatenate([v, v])}, schema=MEMBER_SCHEMA
    )

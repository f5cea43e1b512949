"""Candidate pairs verified so that the threshold means true Jaccard, on either frame backend.

Step 1, every candidate: the full-signature estimate. Two shuffles by document number bring
both signatures to each pair (:meth:`Verifier.attach_first`, :meth:`Verifier.decide`): the
first meets each pair's larger end ``u`` with its signature (and drops the copies of a pair
that collided in several bands), the second its smaller end ``v``. Only documents that are the
smaller end of a pair still to verify send their signature into the second shuffle, and pairs
of identical signatures carry none. A pair with identical signatures, or an estimate ``margin``
or more above the threshold, is accepted; one ``margin`` or more below it is dropped.

Step 2, only the pairs left in between: the texts of just their documents are fetched from
the phase's input (a semi-join on the document numbers), shingled into sorted sets in the
workers, and the exact Jaccard decides. A pair with a document of an earlier run (whose text is
not in this phase) is decided by its estimate.

The default margin is 3.5 standard deviations of the estimate at the threshold: a pair at the
threshold is misjudged by the estimate alone with probability below 2.5e-4 on either side.

The first shuffle also sees every document's row once, keyed by its number, with a second hash
of its id: two rows with one number and two check hashes are a collision of the numbering
(:mod:`corpusforge.stages.dedup.numbers`), reported as ``COLLIDED`` rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api import Frame, as_array
from corpusforge.schemas import Col
from corpusforge.stages.dedup.graph import (
    COLLISION,
    DOC,
    LOCAL_EDGE_SCHEMA,
    MARKER,
    OLD_COLUMN,
    PAIR,
    ROW_SCHEMA,
    SAME,
    SIGNATURE,
    column,
    rows_table,
    unique_pairs,
)
from corpusforge.stages.dedup.kernels import pair_jaccard, shingle_sets
from corpusforge.stages.dedup.minhash import SIGNATURE_COLUMN, estimated_jaccard
from corpusforge.stages.dedup.numbers import check_hashes

VERIFY_MODES = ("text", "signature", "none")
_SETS = "shingles"
ACCEPT, REJECT, CHECK, COLLIDED = 1, 0, 2, -1
DECIDED_SCHEMA = pa.schema(
    [("u", pa.int64()), ("v", pa.int64()), ("lk", pa.uint32()), ("decision", pa.int8())]
)
_MAX_BROADCAST_IDS = 5_000_000  # documents to fetch texts for, sent to every task, not shuffled


def default_margin(threshold: float, num_perm: int, z: float = 3.5) -> float:
    return z * math.sqrt(threshold * (1.0 - threshold) / num_perm)


def _matrix(col: pa.ChunkedArray | pa.Array, rows: np.ndarray) -> np.ndarray:
    """Rows of a list<uint32> signature column as a ``(len(rows), num_perm)`` matrix."""
    if len(rows) == 0:
        return np.zeros((0, 0), dtype=np.uint32)
    taken = col.take(pa.array(rows, pa.int64()))
    if isinstance(taken, pa.ChunkedArray):
        taken = taken.combine_chunks()
    values = taken.flatten().to_numpy()
    return values.reshape(len(rows), -1)


@dataclass(frozen=True)
class _SigRows:
    """The signature rows of one partition: one representative row per document number."""

    keys: np.ndarray  # sorted, distinct numbers
    rows: np.ndarray  # their row positions in the partition's table
    old: np.ndarray
    collided: np.ndarray  # numbers shared by two different ids

    @classmethod
    def of(cls, t: pa.Table, kind: np.ndarray) -> _SigRows:
        rows = np.flatnonzero(kind == SIGNATURE)
        key = column(t, "key", np.int64)[rows]
        check = column(t, "other", np.int64)[rows]  # a second hash of the id
        old = column(t, OLD_COLUMN, np.int8)[rows]
        # the same id twice (this run and an earlier one's index): keep the earlier run's row
        order = np.lexsort((-old.astype(np.int16), check, key))
        rows, key, check, old = rows[order], key[order], check[order], old[order]
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        other_id = np.zeros(len(key), dtype=bool)
        other_id[1:] = (key[1:] == key[:-1]) & (check[1:] != check[:-1])
        return cls(key[first], rows[first], old[first], np.unique(key[other_id]))

    def find(self, numbers: np.ndarray) -> np.ndarray:
        """Index into these rows of each number (every pair end has a signature row)."""
        pos = np.searchsorted(self.keys, numbers)
        if len(numbers) and (
            pos.max(initial=0) >= len(self.keys) or (self.keys[pos] != numbers).any()
        ):
            raise RuntimeError("near_dedup: a candidate pair names a document with no signature")
        return pos


@dataclass(frozen=True)
class Verifier:
    mode: str  # text | signature | none
    threshold: float
    margin: float
    ngram: int
    seed: int
    parts: int

    def attach_first(self, t: pa.Table) -> pa.Table:
        """First verification shuffle, one partition keyed by document number.

        In: raw pairs and markers out of the band shuffle, and one signature row per
        document. Out, keyed for the second shuffle: each distinct pair under its ``v`` with
        ``u``'s signature (none for identical signatures), the signature of each document
        marked as a ``v``, and ``COLLISION`` rows for numbers that two ids share."""
        if t.num_rows == 0:
            return ROW_SCHEMA.empty_table()
        key, kind = column(t, "key", np.int64), column(t, "kind", np.int8)
        sigs = _SigRows.of(t, kind)
        pairs = kind <= SAME
        u, v, pair_kind, lk = unique_pairs(
            key[pairs],
            column(t, "other", np.int64)[pairs],
            kind[pairs],
            column(t, "lk", np.uint32)[pairs],
        )
        at_u = sigs.find(u)
        payload = self.mode != "none"
        marked = np.unique(key[kind == MARKER]) if payload else np.zeros(0, np.int64)
        at_v = sigs.find(marked)
        sig = t["sig"] if payload else None
        carried = np.where(pair_kind == PAIR, sigs.rows[at_u], -1)
        parts = [
            rows_table(v, u, pair_kind, lk, sigs.old[at_u], _payload(sig, carried)),
            rows_table(
                marked,
                np.zeros_like(marked),
                SIGNATURE,
                old=sigs.old[at_v],
                sig=_payload(sig, sigs.rows[at_v]),
            ),
            rows_table(sigs.collided, np.zeros_like(sigs.collided), COLLISION),
        ]
        return pa.concat_tables(parts)

    def decide(self, t: pa.Table) -> pa.Table:
        """Second verification shuffle, one partition keyed by document number: each pair
        meets its ``v``'s signature and gets its decision."""
        if t.num_rows == 0:
            return DECIDED_SCHEMA.empty_table()
        key, kind = column(t, "key", np.int64), column(t, "kind", np.int8)
        pairs = kind <= SAME
        u, v = column(t, "other", np.int64)[pairs], key[pairs]
        decision = np.full(len(u), ACCEPT, np.int8)  # verify "none", identical signatures
        check = kind == PAIR
        if self.mode != "none" and check.any():
            sigs = _SigRows.of(t, kind)
            rows_u = np.flatnonzero(check)
            at_v = sigs.find(key[rows_u])
            est = estimated_jaccard(_matrix(t["sig"], rows_u), _matrix(t["sig"], sigs.rows[at_v]))
            old = (column(t, OLD_COLUMN, np.int8)[rows_u] == 1) | (sigs.old[at_v] == 1)
            decision[check[pairs]] = self._decisions(est, old)
        collided = key[kind == COLLISION]
        return pa.table(
            {
                "u": np.concatenate([u, collided]),
                "v": np.concatenate([v, np.full(len(collided), -1, np.int64)]),
                "lk": np.concatenate(
                    [column(t, "lk", np.uint32)[pairs], np.zeros(len(collided), np.uint32)]
                ),
                "decision": np.concatenate([decision, np.full(len(collided), COLLIDED, np.int8)]),
            },
            schema=DECIDED_SCHEMA,
        )

    def _decisions(self, est: np.ndarray, old: np.ndarray) -> np.ndarray:
        thr, m = self.threshold, self.margin
        if self.mode == "signature":
            m = 0.0  # the estimate alone decides, at the threshold
        decision = np.where(est >= thr, ACCEPT, REJECT)
        unsure = (np.abs(est - thr) < m) & ~old
        return np.where(unsure, CHECK, decision).astype(np.int8)

    def exact(self, t: pa.Table) -> pa.Table:
        """Pairs joined with both shingle sets, kept where the exact Jaccard reaches it."""
        if t.num_rows == 0:
            return LOCAL_EDGE_SCHEMA.empty_table()
        j = pair_jaccard(t[f"{_SETS}_u"], t[f"{_SETS}_v"])
        edges = t.select(["u", "v", "lk"]).filter(pa.array(j >= self.threshold))
        return edges.cast(LOCAL_EDGE_SCHEMA)

    def sets(self, t: pa.Table) -> pa.Table:
        flat, starts = shingle_sets(t[Col.TEXT], self.ngram, self.seed)
        offsets = pa.array(starts, pa.int64())
        values = pa.LargeListArray.from_arrays(offsets, pa.array(flat, pa.uint64()))
        return pa.table({DOC: t[DOC], _SETS: values})


def _payload(sig: pa.ChunkedArray | None, rows: np.ndarray) -> pa.Array | None:
    """The signatures at ``rows`` of a partition (null where ``rows`` is -1)."""
    if sig is None:
        return None
    taken = sig.take(pa.array(rows, pa.int64(), mask=rows < 0))  # a null index: a null row
    return taken.combine_chunks() if isinstance(taken, pa.ChunkedArray) else taken


def sig_rows(numbers, payload: bool):
    """Block function: one ``SIGNATURE`` row per document of a slim table ``(id, minhash,
    _old, ...)``; without ``payload`` (verify "none") the signature is left out."""

    def fn(t: pa.Table) -> pa.Table:
        if t.num_rows == 0:
            return ROW_SCHEMA.empty_table()
        sig = _as_list(t[SIGNATURE_COLUMN]) if payload else None
        ids = t[Col.ID]
        check = check_hashes(ids).view(np.int64)
        return rows_table(
            numbers(ids), check, SIGNATURE, old=column(t, OLD_COLUMN, np.int8), sig=sig
        )

    return fn


def _as_list(col: pa.ChunkedArray | pa.Array) -> pa.LargeListArray:
    """fixed_size_list<uint32>[n] to large_list<uint32> (a null payload then costs no values)."""
    col = as_array(col)
    width = col.type.list_size
    values = col.flatten()
    offsets = pa.array(np.arange(len(col) + 1, dtype=np.int64) * width)
    return pa.LargeListArray.from_arrays(offsets, values)


def counts(t: pa.Table) -> pa.Table:
    """Per block: decided pairs by decision (a map-only count, summed on the driver)."""
    d = column(t, "decision", np.int8)
    return pa.table(
        {
            "candidates": [int((d != COLLIDED).sum())],
            "accepted": [int((d == ACCEPT).sum())],
            "unsure": [int((d == CHECK).sum())],
            "collided": [int((d == COLLIDED).sum())],
        }
    )


def with_decision(decision: int):
    def fn(t: pa.Table) -> pa.Table:
        keep = pc.equal(t["decision"], decision)
        return t.filter(keep).select(["u", "v", "lk"]).cast(LOCAL_EDGE_SCHEMA)

    return fn


def _rename(prefix: str, columns: dict[str, str]):
    def fn(t: pa.Table) -> pa.Table:
        cols = {prefix: t[DOC]}
        cols.update({f"{new}_{prefix}": t[old] for old, new in columns.items()})
        return pa.table(cols)

    return fn


def _attach(edges: Frame, side: Frame, columns: dict[str, str], parts: int) -> Frame:
    """Both endpoints' columns onto each pair (inner joins on ``u`` then ``v``)."""
    for prefix in ("u", "v"):
        edges = edges.join(
            side.map_blocks(_rename(prefix, columns)),
            on=[prefix],
            how="inner",
            num_partitions=parts,
        )
    return edges


def _ends(t: pa.Table) -> pa.Table:
    ends = np.unique(np.concatenate([column(t, "u", np.int64), column(t, "v", np.int64)]))
    return pa.table({DOC: ends}, schema=pa.schema([(DOC, pa.int64())]))


def check_on_text(unsure: Frame, docs: Frame, numbers, v: Verifier, local: bool) -> Frame:
    """The unsure pairs ``(u, v, lk)`` whose exact shingle Jaccard reaches the threshold.

    Only their documents' texts are read (a semi-join of the phase's input on the document
    numbers, broadcast when there are few), shingled in the workers."""
    needed = unsure.map_blocks(_ends).materialize()
    if local or needed.count() <= _MAX_BROADCAST_IDS:
        needed = needed.to_local()  # broadcast the numbers: the documents are never shuffled

    def numbered(t: pa.Table) -> pa.Table:
        return pa.table({DOC: numbers(t[Col.ID]), Col.TEXT: t[Col.TEXT]})

    texts = docs.select([Col.ID, Col.TEXT]).map_blocks(numbered)
    texts = texts.join(needed, on=[DOC], how="left_semi", num_partitions=v.parts)
    sets = texts.map_blocks(v.sets)
    sets = sets.to_local() if local else sets.materialize()
    return _attach(unsure, sets, {_SETS: _SETS}, v.parts).map_blocks(v.exact)

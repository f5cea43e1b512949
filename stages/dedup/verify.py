"""Candidate pairs verified so that the threshold means true Jaccard, on either frame backend.

Step 1, every candidate: the full-signature estimate (two joins bring each endpoint's
signature). A pair with identical signatures, or an estimate ``margin`` or more above the
threshold, is accepted; one ``margin`` or more below it is dropped. Step 2, only the pairs left
in between: the texts of just their documents are fetched from the phase's input (a semi-join
on the ids), shingled into sorted sets in the workers, and the exact Jaccard decides. A pair
with a document of an earlier run (whose text is not in this phase) is decided by its estimate.

The default margin is 3.5 standard deviations of the estimate at the threshold: a pair at the
threshold is misjudged by the estimate alone with probability below 2.5e-4 on either side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api import Frame
from corpusforge.schemas import Col
from corpusforge.stages.dedup.graph import EDGE_SCHEMA
from corpusforge.stages.dedup.kernels import pair_jaccard, shingle_sets
from corpusforge.stages.dedup.minhash import SIGNATURE_COLUMN, estimated_jaccard, signature_matrix

VERIFY_MODES = ("text", "signature", "none")
OLD_COLUMN = "_old"  # 1 for documents of an earlier run's index (no text in this phase)
_SETS = "shingles"
_ACCEPT, _REJECT, _CHECK = 1, 0, 2
_DECIDED_SCHEMA = pa.schema([("u", pa.string()), ("v", pa.string()), ("decision", pa.int8())])
_MAX_BROADCAST_IDS = 5_000_000  # ids to fetch texts for, sent to every task rather than shuffled


def default_margin(threshold: float, num_perm: int, z: float = 3.5) -> float:
    return z * math.sqrt(threshold * (1.0 - threshold) / num_perm)


@dataclass(frozen=True)
class Verifier:
    mode: str  # text | signature | none
    threshold: float
    margin: float
    ngram: int
    seed: int
    parts: int

    def decide(self, t: pa.Table) -> pa.Table:
        """``(u, v, decision)`` from candidates joined with both endpoints' signatures."""
        if t.num_rows == 0:
            return _DECIDED_SCHEMA.empty_table()
        est = estimated_jaccard(signature_matrix(t["sig_u"]), signature_matrix(t["sig_v"]))
        same = t["same"].to_numpy(zero_copy_only=False) == 1
        old = (t["old_u"].to_numpy(zero_copy_only=False) == 1) | (
            t["old_v"].to_numpy(zero_copy_only=False) == 1
        )
        thr, m = self.threshold, self.margin
        if self.mode == "signature":
            m = 0.0  # the estimate alone decides, at the threshold
        decision = np.where(est >= thr, _ACCEPT, _REJECT)
        unsure = (np.abs(est - thr) < m) & ~old
        decision = np.where(unsure, _CHECK, decision)
        decision = np.where(same, _ACCEPT, decision).astype(np.int8)
        return pa.table({"u": t["u"], "v": t["v"], "decision": decision}).cast(_DECIDED_SCHEMA)

    def exact(self, t: pa.Table) -> pa.Table:
        """Pairs joined with both shingle sets, kept where the exact Jaccard reaches it."""
        if t.num_rows == 0:
            return EDGE_SCHEMA.empty_table()
        j = pair_jaccard(t[f"{_SETS}_u"], t[f"{_SETS}_v"])
        return t.select(["u", "v"]).filter(pa.array(j >= self.threshold)).cast(EDGE_SCHEMA)

    def sets(self, t: pa.Table) -> pa.Table:
        flat, starts = shingle_sets(t[Col.TEXT], self.ngram, self.seed)
        offsets = pa.array(starts, pa.int64())
        values = pa.LargeListArray.from_arrays(offsets, pa.array(flat, pa.uint64()))
        return pa.table({Col.ID: t[Col.ID], _SETS: values})


def _rename(prefix: str, columns: dict[str, str]):
    def fn(t: pa.Table) -> pa.Table:
        cols = {prefix: t[Col.ID]}
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


def _needed_ids(pairs: Frame) -> Frame:
    def ends(t: pa.Table) -> pa.Table:
        ids = pa.concat_arrays([t["u"].combine_chunks(), t["v"].combine_chunks()])
        return pa.table({Col.ID: pc.unique(ids)})

    return pairs.map_blocks(ends)


def verify_candidates(
    candidates: Frame, sigs: Frame, docs: Frame, v: Verifier, local: bool
) -> tuple[Frame, dict[str, int]]:
    """Verified edges ``(u, v)`` and counts of how each pair was decided.

    ``sigs``: ``(id, minhash, _old)`` of every document, earlier runs' included. ``docs``: the
    phase's input (texts). ``local``: the slim tables are in the driver, so the few texts'
    shingle sets are brought there too.
    """
    if v.mode == "none":
        return candidates.select(["u", "v"]), {}
    cols = {SIGNATURE_COLUMN: "sig", OLD_COLUMN: "old"}
    decided = _attach(candidates, sigs, cols, v.parts).map_blocks(v.decide).materialize()
    accepted = decided.map_blocks(lambda t: _with(t, _ACCEPT))
    unsure = decided.map_blocks(lambda t: _with(t, _CHECK)).materialize()
    n_unsure = unsure.count()
    stats = {"accepted_by_estimate": accepted.count(), "checked_on_text": n_unsure}
    if not n_unsure:
        return accepted.materialize(), stats
    needed = _needed_ids(unsure).materialize()
    if local or needed.count() <= _MAX_BROADCAST_IDS:
        needed = needed.to_local()  # broadcast the ids: the documents are never shuffled
    texts = docs.select([Col.ID, Col.TEXT]).join(
        needed, on=[Col.ID], how="left_semi", num_partitions=v.parts
    )
    sets = texts.map_blocks(v.sets)
    sets = sets.to_local() if local else sets.materialize()
    checked = _attach(unsure, sets, {_SETS: _SETS}, v.parts).map_blocks(v.exact).materialize()
    stats["accepted_on_text"] = checked.count()
    return accepted.union(checked).materialize(), stats


def _with(t: pa.Table, decision: int) -> pa.Table:
    return t.filter(pc.equal(t["decision"], decision)).select(["u", "v"]).cast(EDGE_SCHEMA)

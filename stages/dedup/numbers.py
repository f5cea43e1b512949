"""Document numbers: the int64 that stands for a document id in everything near dedup shuffles.

Band rows, candidate pairs, edges and component labels carry a number instead of the id string
(8 bytes instead of ~20 plus an offset, and integer sorts instead of string ones). The number is
a 62-bit hash of the id, so any task computes it from the id alone: no numbering pass, and the
same number on the driver path and on the shuffle path, which keeps every tie-break (which of
two identical signatures represents them, which end of a pair is ``u``) path-independent.

Two different ids with the same 62-bit hash would merge two documents. The first shuffle by
number sees every document, each with a second, independent 64-bit hash of its id; where two
rows share a number but not the second hash, the stage collects those (few) ids and renumbers
them above ``2**bits`` (:meth:`DocNumbers.with_fixes`), then runs the grouping again. At 20M
documents that happens with probability ~4e-5; a test forces it with a tiny ``bits``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.stages.dedup.kernels import string_hashes

DOC_BITS = 62  # numbers below 2**62; fixed-up ones just above; negatives are free for sentinels
_SEED = 0xD0C5
_CHECK_SEED = 0xC4EC


@dataclass(frozen=True)
class DocNumbers:
    """Maps id strings to int64 document numbers (picklable: it travels to the workers)."""

    bits: int = DOC_BITS
    fixed: pa.Array | None = None  # sorted ids renumbered to 2**bits + their position

    def __call__(self, ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        if len(ids) == 0:
            return np.zeros(0, dtype=np.int64)
        h = string_hashes(ids, _SEED) >> np.uint64(64 - self.bits)
        out = h.astype(np.int64)
        if self.fixed is not None and len(self.fixed):
            pos = pc.fill_null(pc.index_in(ids, value_set=self.fixed.cast(ids.type)), -1).to_numpy()
            hit = pos >= 0
            out[hit] = (1 << self.bits) + pos[hit].astype(np.int64)
        return out

    def with_fixes(self, ids: list[str]) -> DocNumbers:
        """These numbers plus ``ids`` (ids whose hashes collided) moved to numbers of their own."""
        known = [] if self.fixed is None else self.fixed.to_pylist()
        return DocNumbers(self.bits, pa.array(sorted(set(known) | set(ids)), pa.string()))


def check_hashes(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A second 64-bit hash of each id, independent of the number: tells collisions apart from
    the same id seen twice."""
    if len(ids) == 0:
        return np.zeros(0, dtype=np.uint64)
    return string_hashes(ids, _CHECK_SEED)

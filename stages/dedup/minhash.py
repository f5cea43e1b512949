"""MinHash signatures of documents, and the LSH banding that turns them into candidate pairs.

Per batch: a numba kernel scans the text column's UTF-8 buffer once and yields the 64-bit
hashes of its word n-gram shingles (:mod:`corpusforge.stages.dedup.kernels`); ``rensa`` turns
those flat hashes into ``num_perm`` 32-bit MinHash values per document in compiled code
(``RMinHash.digest_matrix_from_flat_token_hashes``: unbiased, with the binomial variance of
classic MinHash; see ``benchmarks/README_dedup.md`` for why this pair and not one library).

``HASH_VERSION`` names this shingling + hashing. A dedup index written by a run with another
version holds incomparable signatures and is refused (``stages.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from corpusforge.pipeline.api import Stage, StageParams, as_array, register_stage, set_column
from corpusforge.schemas import Col
from corpusforge.stages.dedup.kernels import normalize_text, shingle_hashes, text_hashes

SIGNATURE_COLUMN = "minhash"
TEXT_HASH_COLUMN = "dedup_text_hash"
# 1: xxh3 words + NumPy 64-bit permutations. 2: numba shingles + rensa 32-bit values, numba
# whole-text hash. Bump whenever a signature, band key or text hash of the same text changes.
HASH_VERSION = 2

_U64 = np.uint64
_MASK64 = (1 << 64) - 1


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer on uint64 arrays: a bijective avalanche."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


# ----------------------------------------------------------------------------- signatures


def _rensa():
    # Ray gives each task one CPU; rensa's thread pool would otherwise start a thread per core
    # in every worker process. Must be set before rensa's first parallel call in the process.
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    import rensa

    return rensa


def signature_algorithm() -> str:
    """Names everything a signature depends on besides the parameters (stored in the index)."""
    return f"v{HASH_VERSION}-rensa{_rensa().RMinHash.ALGORITHM_VERSION}"


def minhash_signatures(
    texts: pa.Array | pa.ChunkedArray, *, num_perm: int, ngram: int, seed: int = 1
) -> np.ndarray:
    """A ``(n_docs, num_perm)`` uint32 matrix of MinHash values."""
    hashes, starts = shingle_hashes(texts, ngram, seed)
    n_docs = len(starts) - 1
    if n_docs == 0:
        return np.zeros((0, num_perm), dtype=np.uint32)
    digests = _rensa().RMinHash.digest_matrix_from_flat_token_hashes(hashes, starts, num_perm, seed)
    return np.array(digests.to_rows(), dtype=np.uint32).reshape(n_docs, num_perm)


def signature_array(sig: np.ndarray) -> pa.FixedSizeListArray:
    values = pa.array(sig.reshape(-1).astype(np.uint32, copy=False), type=pa.uint32())
    return pa.FixedSizeListArray.from_arrays(values, sig.shape[1])


def signature_matrix(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Back from the Arrow column to a ``(n, num_perm)`` matrix."""
    col = as_array(col)
    width = col.type.list_size
    values = col.flatten().to_numpy(zero_copy_only=False)
    return values.reshape(len(col), width)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Row-wise share of equal MinHash values: the unbiased Jaccard estimate."""
    return (sig_a == sig_b).mean(axis=1)


def signature_keys(sig: np.ndarray) -> np.ndarray:
    """One int64 per row, equal for equal signatures: groups identical documents in a bucket.

    (The compiled ``band_and_signature_keys`` computes the same values together with the band
    keys; this and :func:`band_keys` are their definition.)"""
    acc = np.full(sig.shape[0], _U64(0x2545F4914F6CDD1D), dtype=_U64)
    for column in sig.T:
        acc = _mix64(acc ^ column.astype(_U64))
    return acc.view(np.int64)


# ----------------------------------------------------------------------------- LSH banding


def candidate_probability(jaccard: float | np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Chance that a pair of this Jaccard collides in at least one band."""
    return 1.0 - (1.0 - np.asarray(jaccard, dtype=float) ** rows) ** bands


def recall_bands_rows(threshold: float, num_perm: int, miss: float = 1e-3) -> tuple[int, int]:
    """Banding for recall: the most rows per band (fewest false candidates to verify) that
    still make a pair *at* the threshold a candidate with probability ``>= 1 - miss``, and as
    many bands as the signature holds. 0.8 -> 22 x 5 (miss 1.6e-4), 0.7 -> 28 x 4 (4.6e-4)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be in (0, 1)")
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= 1.0 - miss:
            return bands, rows
    return num_perm, 1


def _integrate(f, lo: float, hi: float, steps: int = 512) -> float:
    xs = np.linspace(lo, hi, steps + 1)
    return float(np.trapezoid(f(xs), xs))


def optimal_bands_rows(
    threshold: float,
    num_perm: int,
    false_positive_weight: float = 0.5,
    false_negative_weight: float = 0.5,
) -> tuple[int, int]:
    """The classic banding (datasketch's rule, FineWeb's 14 x 8 at 0.8 with weights 0.05/0.95):
    ``(b, r)`` minimizing the weighted false-positive and false-negative areas under the
    S-curve. Kept for comparison in the benchmarks; ``near_dedup`` uses
    :func:`recall_bands_rows`."""
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be in (0, 1)")
    best: tuple[float, int, int] | None = None
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):

            def cand(s: np.ndarray, b: int = b, r: int = r) -> np.ndarray:
                return candidate_probability(s, b, r)

            fp = _integrate(cand, 0.0, threshold)
            fn = _integrate(lambda s, c=cand: 1.0 - c(s), threshold, 1.0)
            err = false_positive_weight * fp + false_negative_weight * fn
            if best is None or err < best[0] - 1e-12:
                best = (err, b, r)
    assert best is not None
    return best[1], best[2]


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(n_docs, bands)`` uint64 keys: the band's ``rows`` values and the band index hashed.

    Mixing the band index in makes one key column enough to group all bands at once.
    """
    n = sig.shape[0]
    if bands * rows > sig.shape[1]:
        raise ValueError(f"{bands} bands x {rows} rows need {bands * rows} hashes")
    keys = np.empty((n, bands), dtype=_U64)
    for j in range(bands):
        acc = np.full(n, _U64(((j + 1) * 0x9E3779B97F4A7C15) & _MASK64), dtype=_U64)
        for v in sig[:, j * rows : (j + 1) * rows].T:
            acc = _mix64(acc ^ v.astype(_U64))
        keys[:, j] = acc
    return keys


# ----------------------------------------------------------------------------- the stage


class MinHashParams(StageParams):
    num_perm: int = 112  # hashes per signature (datatrove's default 14 x 8)
    ngram: int = 5  # word n-gram size of shingles
    seed: int = 1  # seeds word hashing and the permutations: keep it fixed across runs
    normalization: str = "full"  # of dedup_text_hash: none | whitespace | lower | full


@dataclass(frozen=True)
class MinHashSpec:
    num_perm: int
    ngram: int
    seed: int

    def signatures(self, texts: pa.Array | pa.ChunkedArray) -> pa.Array:
        sig = minhash_signatures(texts, num_perm=self.num_perm, ngram=self.ngram, seed=self.seed)
        return signature_array(sig)


@register_stage
class MinHashStage(Stage):
    """Add ``minhash`` (fixed_size_list<uint32>[num_perm]) and ``dedup_text_hash`` columns.

    A per-batch map, so the engine checkpoints it per unit of work: run it in the phase
    before ``near_dedup``/``exact_dedup`` and a resumed run never recomputes signatures.
    """

    name = "minhash"
    internal_columns = (SIGNATURE_COLUMN, TEXT_HASH_COLUMN)
    description = "MinHash signatures (word n-gram shingles) and normalized-text hashes"
    Params = MinHashParams

    def process(self, batch: pa.Table) -> pa.Table:
        p: MinHashParams = self.params  # type: ignore[assignment]
        texts = batch.column(Col.TEXT)
        spec = MinHashSpec(p.num_perm, p.ngram, p.seed)
        batch = set_column(batch, SIGNATURE_COLUMN, spec.signatures(texts))
        return set_column(batch, TEXT_HASH_COLUMN, text_hashes(texts, p.normalization))


__all__ = [
    "HASH_VERSION",
    "SIGNATURE_COLUMN",
    "TEXT_HASH_COLUMN",
    "MinHashSpec",
    "MinHashStage",
    "band_keys",
    "candidate_probability",
    "estimated_jaccard",
    "minhash_signatures",
    "normalize_text",
    "optimal_bands_rows",
    "recall_bands_rows",
    "shingle_hashes",
    "signature_algorithm",
    "signature_array",
    "signature_keys",
    "signature_matrix",
    "text_hashes",
]

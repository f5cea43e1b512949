"""MinHash signatures of documents, vectorized over a whole batch.

The pipeline per batch: normalize text with Arrow kernels, split into words, hash each
*distinct* word once (a Python call per vocabulary entry, never per shingle), combine word
hashes into word n-gram shingle hashes with NumPy, then take the minimum of ``num_perm``
64-bit hash permutations per document with ``np.minimum.reduceat``. Everything after the
vocabulary hashing runs as NumPy array arithmetic (uint64, wrapping).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from corpusforge.pipeline.api import Stage, StageParams, register_stage, set_column
from corpusforge.schemas import Col

SIGNATURE_COLUMN = "minhash"
TEXT_HASH_COLUMN = "dedup_text_hash"

_U64 = np.uint64
_MASK64 = (1 << 64) - 1

# ----------------------------------------------------------------------------- normalization

_PUNCT_OR_SYMBOL = r"[\p{P}\p{S}]+"


def normalize_text(texts: pa.Array | pa.ChunkedArray, mode: str = "full") -> pa.Array:
    """Normalize a column of texts with Arrow kernels (no Python loop).

    ``none``: unchanged. ``whitespace``: trim, fold runs of whitespace to one space.
    ``lower``: whitespace plus lowercase. ``full``: NFKC, lowercase, every Unicode
    punctuation or symbol character to a space, whitespace folded (the shingling form).
    """
    arr = pc.fill_null(texts, "")
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if mode == "none":
        return arr
    if mode == "full":
        arr = pc.utf8_normalize(arr, form="NFKC")
        arr = pc.replace_substring_regex(arr, pattern=_PUNCT_OR_SYMBOL, replacement=" ")
    if mode in ("full", "lower"):
        arr = pc.utf8_lower(arr)
    if mode not in ("full", "lower", "whitespace"):
        raise ValueError(f"unknown normalization {mode!r}")
    arr = pc.replace_substring_regex(arr, pattern=r"\s+", replacement=" ")
    return pc.utf8_trim_whitespace(arr)


def text_hashes(texts: pa.Array | pa.ChunkedArray, mode: str = "full") -> pa.Array:
    """64-bit xxh3 of each normalized text, as 16 hex chars (a join/group key for lineage)."""
    norm = normalize_text(texts, mode)
    return pa.array(
        [xxhash.xxh3_64_hexdigest(t.encode("utf-8", "surrogatepass")) for t in norm.to_pylist()],
        type=pa.string(),
    )


# ----------------------------------------------------------------------------- 64-bit mixing


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a bijective avalanche on uint64 arrays (in place friendly)."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def _word_hashes(words: pa.Array, seed: int) -> np.ndarray:
    """Hash each word; distinct words are hashed once (dictionary encoding)."""
    if len(words) == 0:
        return np.zeros(0, dtype=_U64)
    enc = pc.dictionary_encode(words)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    vocab = enc.dictionary.to_pylist()
    table = np.fromiter(
        (xxhash.xxh3_64_intdigest(w.encode("utf-8", "surrogatepass"), seed) for w in vocab),
        dtype=_U64,
        count=len(vocab),
    )
    return table[enc.indices.to_numpy(zero_copy_only=False)]


def shingle_hashes(
    texts: pa.Array | pa.ChunkedArray, ngram: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of word n-gram shingles of every document, flattened.

    Returns ``(hashes, starts)``: the shingles of document ``i`` are
    ``hashes[starts[i]:starts[i+1]]`` (``starts`` has one more entry). A document with fewer
    than ``ngram`` words is one shingle of all its words; an empty one is one empty shingle,
    so every document has at least one shingle (``reduceat`` needs non-empty segments).
    """
    norm = normalize_text(texts, "full")
    tokens = pc.utf8_split_whitespace(norm)
    n_words = pc.list_value_length(tokens).to_numpy(zero_copy_only=False).astype(np.int64)
    words = pc.list_flatten(tokens)
    wh = _word_hashes(words, seed)
    word_start = np.zeros(len(n_words) + 1, dtype=np.int64)
    np.cumsum(n_words, out=word_start[1:])

    n_sh = np.maximum(n_words - ngram + 1, 1)
    sh_start = np.zeros(len(n_words) + 1, dtype=np.int64)
    np.cumsum(n_sh, out=sh_start[1:])
    total = int(sh_start[-1])
    doc_of = np.repeat(np.arange(len(n_words)), n_sh)
    pos = np.arange(total, dtype=np.int64) - sh_start[doc_of]  # shingle index within doc
    first = word_start[doc_of] + pos  # index of the shingle's first word
    length = np.minimum(n_words[doc_of], ngram)  # words in this shingle (0 for empty docs)

    # Fold up to `ngram` word hashes into one: order-sensitive (multiply between steps).
    padded = np.concatenate([wh, np.zeros(ngram, dtype=_U64)])
    acc = np.full(total, _U64(0x9E3779B97F4A7C15), dtype=_U64)
    for k in range(ngram):
        live = length > k
        step = (acc ^ padded[first + k]) * _U64(0xFF51AFD7ED558CCD)
        acc = np.where(live, step + _U64(k + 1), acc)
    return _mix64(acc ^ length.astype(_U64)), sh_start


# ----------------------------------------------------------------------------- signatures


@lru_cache(maxsize=16)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Odd multipliers and offsets of the permutations ``x -> mix(a*x + b)``."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64) * _U64(2) + _U64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a, b


def minhash_signatures(
    texts: pa.Array | pa.ChunkedArray,
    *,
    num_perm: int,
    ngram: int,
    seed: int = 1,
    block: int = 16,
    max_cells: int = 8_000_000,
) -> np.ndarray:
    """A ``(n_docs, num_perm)`` uint64 matrix of MinHash values.

    Memory stays bounded: shingles are processed ``max_cells // block`` at a time (a chunk
    boundary may split a document: the running minimum is merged across chunks).
    """
    hashes, starts = shingle_hashes(texts, ngram, seed)
    n_docs = len(starts) - 1
    a, b = _permutations(num_perm, seed)
    sig = np.full((n_docs, num_perm), np.iinfo(np.uint64).max, dtype=_U64)
    if n_docs == 0:
        return sig
    doc_of_shingle_start = starts[:-1]
    chunk = max(max_cells // block, 1)
    for lo in range(0, len(hashes), chunk):
        hi = min(lo + chunk, len(hashes))
        # documents overlapping [lo, hi) and where their shingles begin inside the chunk
        d_lo = int(np.searchsorted(doc_of_shingle_start, lo, side="right") - 1)
        d_hi = int(np.searchsorted(doc_of_shingle_start, hi, side="left"))
        seg = np.maximum(doc_of_shingle_start[d_lo:d_hi], lo) - lo
        x = hashes[lo:hi, None]
        for p in range(0, num_perm, block):
            q = min(p + block, num_perm)
            h = _mix64(x * a[None, p:q] + b[None, p:q])
            part = np.minimum.reduceat(h, seg, axis=0)
            np.minimum(sig[d_lo:d_hi, p:q], part, out=sig[d_lo:d_hi, p:q])
    return sig


def signature_array(sig: np.ndarray) -> pa.FixedSizeListArray:
    width = sig.shape[1]
    return pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1), type=pa.uint64()), width)


def signature_matrix(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Back from the Arrow column to a ``(n, num_perm)`` uint64 matrix."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks else pa.array([], col.type)
    width = col.type.list_size
    values = col.flatten().to_numpy(zero_copy_only=False)
    return values.reshape(len(col), width)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Row-wise share of equal MinHash values: the unbiased Jaccard estimate."""
    return (sig_a == sig_b).mean(axis=1)


# ----------------------------------------------------------------------------- LSH banding


def _integrate(f, lo: float, hi: float, steps: int = 512) -> float:
    xs = np.linspace(lo, hi, steps + 1)
    return float(np.trapezoid(f(xs), xs))


def optimal_bands_rows(
    threshold: float,
    num_perm: int,
    false_positive_weight: float = 0.5,
    false_negative_weight: float = 0.5,
) -> tuple[int, int]:
    """Bands and rows (``bands * rows <= num_perm``) for an LSH Jaccard ``threshold``.

    A pair of Jaccard ``s`` becomes a candidate with probability ``1 - (1 - s**r)**b``.
    The false-positive mass is that probability integrated over ``[0, threshold]``, the
    false-negative mass its complement integrated over ``[threshold, 1]``; we return the
    ``(b, r)`` minimizing their weighted sum.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be in (0, 1)")
    best: tuple[float, int, int] | None = None
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):

            def cand(s: np.ndarray, b: int = b, r: int = r) -> np.ndarray:
                return 1.0 - (1.0 - s**r) ** b

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
            acc = _mix64(acc ^ v)
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
    """Add ``minhash`` (fixed_size_list<uint64>[num_perm]) and ``dedup_text_hash`` columns.

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


def _u64_to_i64(x: np.ndarray) -> np.ndarray:
    """Arrow hashing/joins handle int64 everywhere; the bits are what matter."""
    return x.view(np.int64)


__all__ = [
    "SIGNATURE_COLUMN",
    "TEXT_HASH_COLUMN",
    "MinHashSpec",
    "MinHashStage",
    "band_keys",
    "estimated_jaccard",
    "minhash_signatures",
    "normalize_text",
    "optimal_bands_rows",
    "shingle_hashes",
    "signature_array",
    "signature_matrix",
    "text_hashes",
]

"""Compiled (numba) kernels over a whole Arrow string column: normalization, word and shingle
hashing, whole-text hashes, and exact Jaccard of shingle sets.

Each kernel reads the column's UTF-8 buffer and offsets directly, one pass per batch, never one
Python call per document. Characters are mapped through a per-code-point table built once per
process from :mod:`unicodedata` (0.3 s): NFKC of the single character, lowercased, and, in the
``full`` form, every punctuation (P*) or symbol (S*) character turned into a word separator,
like whitespace. Mapping characters one at a time (rather than NFKC of the whole string) keeps
the kernel a single forward scan; it differs from whole-string NFKC only for combining
sequences, and near-duplicate detection only needs the same mapping on both sides.

Code points at or above ``_TABLE_LIMIT`` (planes 3-16: rare CJK extensions, tags, private use)
have no case, no compatibility form and no P/S category, so they map to themselves.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api import as_array

MODES = ("none", "whitespace", "lower", "full")
_TABLE_LIMIT = 0x30000
_SEP = -1  # in the replacement pool: a word separator

_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xBF58476D1CE4E5B9)
_K3 = np.uint64(0x94D049BB133111EB)
_K4 = np.uint64(0xFF51AFD7ED558CCD)
_S27, _S29, _S30, _S31 = np.uint64(27), np.uint64(29), np.uint64(30), np.uint64(31)


@lru_cache(maxsize=4)
def char_table(mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(offset, length, pool)``: code point ``c`` becomes ``pool[offset[c]:][:length[c]]``
    (``_SEP`` = separator); ``offset[c] == -1`` means unchanged."""
    if mode not in MODES or mode == "none":
        raise ValueError(f"unknown normalization {mode!r} (one of {', '.join(MODES)})")
    offset = np.full(_TABLE_LIMIT, -1, dtype=np.int32)
    length = np.zeros(_TABLE_LIMIT, dtype=np.int8)
    pool: list[int] = []
    cat = unicodedata.category

    def is_sep(ch: str) -> bool:
        return ch.isspace() or (mode == "full" and cat(ch)[0] in "PS")

    for c in range(_TABLE_LIMIT):
        ch = chr(c)
        if c >= 0x80 and cat(ch) == "Cn":  # unassigned: nothing to map
            continue
        if is_sep(ch):
            rep = [_SEP]
        elif mode == "whitespace":
            continue
        else:
            s = unicodedata.normalize("NFKC", ch).lower() if mode == "full" else ch.lower()
            if s == ch:
                continue
            rep = [_SEP if is_sep(x) else ord(x) for x in s]
        offset[c] = len(pool)
        length[c] = len(rep)
        pool.extend(rep)
    return offset, length, np.array(pool or [0], dtype=np.int32)


def _utf8_len(c: int) -> int:
    return 1 if c < 0x80 else 2 if c < 0x800 else 3 if c < 0x10000 else 4


@lru_cache(maxsize=4)
def output_bounds(mode: str) -> tuple[int, int]:
    """At most how many words, and how many normalized UTF-8 bytes, one input byte yields."""
    offset, length, pool = char_table(mode)
    # unmapped or mapped to one character: one word, at most 5 bytes (a space + 4) per 1-4
    words, out_bytes = 1, 5
    for c in np.flatnonzero(length > 1).tolist():
        rep = pool[offset[c] : offset[c] + length[c]].tolist()
        runs = sum(1 for j, x in enumerate(rep) if x != _SEP and (j == 0 or rep[j - 1] == _SEP))
        size = sum(1 if x == _SEP else _utf8_len(x) for x in rep) + 1
        words = max(words, -(-runs // _utf8_len(c)))
        out_bytes = max(out_bytes, -(-size // _utf8_len(c)))
    return words, out_bytes


def utf8_buffers(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes and int64 offsets of a string column (nulls read as empty)."""
    texts = as_array(texts)
    if texts.null_count:
        texts = pc.fill_null(texts, "")
    if texts.type != pa.large_string():
        texts = texts.cast(pa.large_string())
    n = len(texts)
    _, off_buf, data_buf = texts.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64, count=texts.offset + n + 1)[texts.offset :]
    if data_buf is None or n == 0:
        return np.zeros(0, dtype=np.uint8), np.zeros(n + 1, dtype=np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8)
    start, end = int(offsets[0]), int(offsets[-1])
    if start or end != len(data):  # a slice of a larger column: its own bytes, still no copy
        data, offsets = data[start:end], offsets - start
    return data, offsets


# ----------------------------------------------------------------------------- primitives


@nb.njit(inline="always", cache=True)
def _mix64(x):
    x = x ^ (x >> _S30)
    x = x * _K2
    x = x ^ (x >> _S27)
    x = x * _K3
    return x ^ (x >> _S31)


@nb.njit(inline="always", cache=True)
def decode_at(data, i, end):
    """One code point at ``i`` and the next index; a truncated sequence reads as U+FFFD."""
    b0 = np.int32(data[i])
    if b0 < 0x80:
        return b0, i + 1
    if b0 < 0xE0:
        if i + 1 >= end:
            return 0xFFFD, end
        return ((b0 & 0x1F) << 6) | (np.int32(data[i + 1]) & 0x3F), i + 2
    if b0 < 0xF0:
        if i + 2 >= end:
            return 0xFFFD, end
        c = ((b0 & 0x0F) << 12) | ((np.int32(data[i + 1]) & 0x3F) << 6)
        return c | (np.int32(data[i + 2]) & 0x3F), i + 3
    if i + 3 >= end:
        return 0xFFFD, end
    c = ((b0 & 0x07) << 18) | ((np.int32(data[i + 1]) & 0x3F) << 12)
    c |= (np.int32(data[i + 2]) & 0x3F) << 6
    return c | (np.int32(data[i + 3]) & 0x3F), i + 4


@nb.njit(cache=True)
def _grow(a, need):
    b = np.empty(max(need, 2 * len(a) + 16), dtype=a.dtype)
    b[: len(a)] = a
    return b


# ----------------------------------------------------------------------------- shingles


@nb.njit(cache=True)
def _word_hashes(data, offsets, offset, length, pool, seed, per_byte):
    """Hashes of the words of every document (``full`` mapping) and each document's count.

    Room is reserved per document (``per_byte`` words per input byte at most), so the
    per-character loop never checks or reallocates its output.
    """
    n_docs = len(offsets) - 1
    out = np.empty(len(data) // 4 + 16, dtype=np.uint64)
    n_words = np.zeros(n_docs, dtype=np.int64)
    k = 0
    h0 = _mix64(np.uint64(seed) + _K1)
    for d in range(n_docs):
        i, end, k0 = offsets[d], offsets[d + 1], k
        need = k + (end - i) * per_byte + 1
        if need > len(out):
            out = _grow(out, need)
        k = _doc_words(data, i, end, offset, length, pool, h0, out, k)
        n_words[d] = k - k0
    return out[:k], n_words


@nb.njit(cache=True)
def _doc_words(data, i, end, offset, length, pool, h0, out, k):
    h, in_word = h0, False
    while i < end:
        cp, i = decode_at(data, i, end)
        o = offset[cp] if cp < _TABLE_LIMIT else -1
        if o < 0:
            h = (h ^ np.uint64(cp)) * _K4
            in_word = True
            continue
        for j in range(length[cp]):
            c = pool[o + j]
            if c != _SEP:
                h = (h ^ np.uint64(c)) * _K4
                in_word = True
            elif in_word:
                out[k] = _mix64(h)
                k += 1
                h, in_word = h0, False
    if in_word:
        out[k] = _mix64(h)
        k += 1
    return k


@nb.njit(cache=True)
def _shingles(words, n_words, ngram):
    """Order-sensitive hashes of every run of ``ngram`` words; a document with fewer words is
    one shingle of all of them (an empty one: the empty shingle)."""
    n = len(n_words)
    starts = np.empty(n + 1, dtype=np.int64)
    starts[0] = 0
    for d in range(n):
        starts[d + 1] = starts[d] + max(n_words[d] - ngram + 1, 1)
    out = np.empty(starts[n], dtype=np.uint64)
    w = 0
    for d in range(n):
        m = n_words[d]
        width = min(m, ngram)
        for s in range(starts[d + 1] - starts[d]):
            acc = _K1
            for t in range(width):
                acc = (acc ^ words[w + s + t]) * _K4 + np.uint64(t + 1)
            out[starts[d] + s] = _mix64(acc ^ np.uint64(width))
        w += m
    return out, starts


def shingle_hashes(
    texts: pa.Array | pa.ChunkedArray, ngram: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the word n-gram shingles of every document, flattened: document ``i``
    owns ``hashes[starts[i]:starts[i + 1]]`` (at least one each)."""
    if ngram < 1:
        raise ValueError("ngram must be at least 1")
    data, offsets = utf8_buffers(texts)
    offset, length, pool = char_table("full")
    per_byte = output_bounds("full")[0]
    words, n_words = _word_hashes(data, offsets, offset, length, pool, seed, per_byte)
    return _shingles(words, n_words, ngram)


@nb.njit(cache=True)
def _sorted_sets(hashes, starts):
    """Each document's shingle hashes sorted and deduplicated (flat, with new starts)."""
    n = len(starts) - 1
    out = np.empty(len(hashes), dtype=np.uint64)
    new = np.empty(n + 1, dtype=np.int64)
    k = 0
    for d in range(n):
        new[d] = k
        part = np.sort(hashes[starts[d] : starts[d + 1]])
        for j in range(len(part)):
            if j == 0 or part[j] != part[j - 1]:
                out[k] = part[j]
                k += 1
    new[n] = k
    return out[:k], new


def shingle_sets(
    texts: pa.Array | pa.ChunkedArray, ngram: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`shingle_hashes`, each document's hashes sorted and distinct."""
    return _sorted_sets(*shingle_hashes(texts, ngram, seed))


@nb.njit(cache=True)
def _pair_jaccard(a, a_starts, b, b_starts):
    """Jaccard of sorted distinct sets ``a[i]`` and ``b[i]`` for every row ``i``."""
    n = len(a_starts) - 1
    out = np.empty(n, dtype=np.float64)
    for r in range(n):
        i, i_end = a_starts[r], a_starts[r + 1]
        j, j_end = b_starts[r], b_starts[r + 1]
        size = (i_end - i) + (j_end - j)
        inter = 0
        while i < i_end and j < j_end:
            if a[i] == b[j]:
                inter += 1
                i += 1
                j += 1
            elif a[i] < b[j]:
                i += 1
            else:
                j += 1
        union = size - inter
        out[r] = inter / union if union else 1.0
    return out


def pair_jaccard(sets_a: pa.Array, sets_b: pa.Array) -> np.ndarray:
    """Row-wise exact Jaccard of two ``list<uint64>`` columns of sorted distinct hashes."""

    def flat(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        col = col.cast(pa.large_list(pa.uint64()))
        offs = col.offsets.to_numpy().astype(np.int64)
        values = col.values.to_numpy(zero_copy_only=False)
        return values[offs[0] :], offs - offs[0]

    return _pair_jaccard(*flat(sets_a), *flat(sets_b))


# ----------------------------------------------------------------------------- whole texts


@nb.njit(cache=True)
def _normalize(data, offsets, offset, length, pool, per_byte):
    """Map every character, fold separator runs to one space, trim both ends."""
    n = len(offsets) - 1
    out = np.empty(len(data) + 16, dtype=np.uint8)
    new = np.empty(n + 1, dtype=np.int64)
    k = 0
    for d in range(n):
        new[d] = k
        need = k + (offsets[d + 1] - offsets[d]) * per_byte + 1
        if need > len(out):
            out = _grow(out, need)
        k = _doc_normalize(data, offsets[d], offsets[d + 1], offset, length, pool, out, k)
        new[d + 1] = k
    return out[:k], new


@nb.njit(cache=True)
def _doc_normalize(data, i, end, offset, length, pool, out, k):
    start = k
    pending = False  # a separator waits to be written before the next character
    while i < end:
        cp, i = decode_at(data, i, end)
        o = offset[cp] if cp < _TABLE_LIMIT else -1
        m = 1 if o < 0 else length[cp]
        for j in range(m):
            c = cp if o < 0 else pool[o + j]
            if c == _SEP:
                pending = k > start
                continue
            if pending:
                out[k] = 32
                k += 1
                pending = False
            k = _encode(out, k, c)
    return k


@nb.njit(inline="always", cache=True)
def _encode(out, k, c):
    if c < 0x80:
        out[k] = c
        return k + 1
    if c < 0x800:
        out[k] = 0xC0 | (c >> 6)
        out[k + 1] = 0x80 | (c & 0x3F)
        return k + 2
    if c < 0x10000:
        out[k] = 0xE0 | (c >> 12)
        out[k + 1] = 0x80 | ((c >> 6) & 0x3F)
        out[k + 2] = 0x80 | (c & 0x3F)
        return k + 3
    out[k] = 0xF0 | (c >> 18)
    out[k + 1] = 0x80 | ((c >> 12) & 0x3F)
    out[k + 2] = 0x80 | ((c >> 6) & 0x3F)
    out[k + 3] = 0x80 | (c & 0x3F)
    return k + 4


def normalize_text(texts: pa.Array | pa.ChunkedArray, mode: str = "full") -> pa.Array:
    """Normalized texts (see the module notes); ``none`` returns them unchanged."""
    if mode == "none":
        arr = as_array(texts)
        return pc.fill_null(arr, "") if arr.null_count else arr
    offset, length, pool = char_table(mode)
    data, offsets = utf8_buffers(texts)
    out, new = _normalize(data, offsets, offset, length, pool, output_bounds(mode)[1])
    return pa.LargeStringArray.from_buffers(len(new) - 1, pa.py_buffer(new), pa.py_buffer(out))


@nb.njit(cache=True)
def _hash_slices(data, offsets, seed):
    """A 64-bit hash of each byte slice: 8-byte words mixed in order, then the length."""
    n = len(offsets) - 1
    out = np.empty(n, dtype=np.uint64)
    for d in range(n):
        i, end = offsets[d], offsets[d + 1]
        h = _mix64(np.uint64(seed) ^ _K1)
        while i + 8 <= end:
            w = np.uint64(0)
            for b in range(8):
                w |= np.uint64(data[i + b]) << np.uint64(8 * b)
            h = _mix64(h ^ w) * _K4
            i += 8
        w = np.uint64(0)
        for b in range(end - i):
            w |= np.uint64(data[i + b]) << np.uint64(8 * b)
        h = _mix64(h ^ w ^ (np.uint64(end - offsets[d]) << np.uint64(56)))
        out[d] = h ^ (h >> _S29)
    return out


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def text_hashes(texts: pa.Array | pa.ChunkedArray, mode: str = "full") -> pa.Array:
    """A 64-bit hash of each normalized text, as 16 hex characters (a join/group key)."""
    data, offsets = utf8_buffers(normalize_text(texts, mode))
    h = _hash_slices(data, offsets, 0)
    nibbles = (h[:, None] >> (np.arange(60, -4, -4, dtype=np.uint64))[None, :]) & np.uint64(15)
    chars = _HEX[nibbles.astype(np.intp)].reshape(-1)
    offs = np.arange(0, 16 * len(h) + 1, 16, dtype=np.int32)
    return pa.StringArray.from_buffers(len(h), pa.py_buffer(offs), pa.py_buffer(chars.tobytes()))


def string_hashes(values: pa.Array | pa.ChunkedArray, seed: int = 0) -> np.ndarray:
    """A 64-bit hash of each string as it is (no normalization): salts and spread keys."""
    data, offsets = utf8_buffers(values)
    return _hash_slices(data, offsets, seed)


# ----------------------------------------------------------------------------- LSH keys


_SIG_SEED = np.uint64(0x2545F4914F6CDD1D)


@nb.njit(cache=True)
def band_and_signature_keys(sig, bands, rows):
    """Band keys ``(n, bands)`` and whole-signature keys ``(n,)`` of a uint32 signature matrix,
    one pass over it (the NumPy definitions are ``minhash.band_keys``/``signature_keys``)."""
    n, width = sig.shape
    keys = np.empty((n, bands), dtype=np.uint64)
    whole = np.empty(n, dtype=np.uint64)
    for d in range(n):
        acc = _SIG_SEED
        for c in range(width):
            acc = _mix64(acc ^ np.uint64(sig[d, c]))
        whole[d] = acc
        for j in range(bands):
            acc = np.uint64(j + 1) * _K1
            for c in range(j * rows, (j + 1) * rows):
                acc = _mix64(acc ^ np.uint64(sig[d, c]))
            keys[d, j] = acc
    return keys, whole


# ----------------------------------------------------------------------------- candidate pairs


@nb.njit(inline="always", cache=True)
def _pair_slot(u, v, mask):
    return _mix64(np.uint64(u) * _K1 ^ np.uint64(v)) & mask


@nb.njit(cache=True)
def unique_pairs_kernel(u, v, kind, lk):
    """Each ``(u, v)`` once, in order of first appearance: ``kind`` the largest of its
    copies', ``lk`` the smallest. A hash table, linear time (sorting 20M pairs is not)."""
    n = len(u)
    cap = 16
    while cap < 2 * n:
        cap *= 2
    mask = np.uint64(cap - 1)
    slots = np.full(cap, -1, dtype=np.int64)
    ou = np.empty(n, dtype=np.int64)
    ov = np.empty(n, dtype=np.int64)
    okind = np.empty(n, dtype=np.int8)
    olk = np.empty(n, dtype=np.uint32)
    m = 0
    for i in range(n):
        h = _pair_slot(u[i], v[i], mask)
        while True:
            s = slots[h]
            if s == -1:
                slots[h] = m
                ou[m], ov[m], okind[m], olk[m] = u[i], v[i], kind[i], lk[i]
                m += 1
                break
            if ou[s] == u[i] and ov[s] == v[i]:
                okind[s] = max(okind[s], kind[i])
                olk[s] = min(olk[s], lk[i])
                break
            h = (h + np.uint64(1)) & mask
    return ou[:m], ov[:m], okind[:m], olk[:m]


@nb.njit(cache=True)
def _sort_run(g, doc, idx):
    """``idx`` sorted by ``(g[idx], doc[idx])`` (insertion sort: runs are mostly tiny)."""
    if len(idx) > 32:
        idx = idx[np.argsort(doc[idx], kind="mergesort")]
        return idx[np.argsort(g[idx], kind="mergesort")]
    for a in range(1, len(idx)):
        x = idx[a]
        b = a - 1
        while b >= 0 and (g[idx[b]] > g[x] or (g[idx[b]] == g[x] and doc[idx[b]] > doc[x])):
            idx[b + 1] = idx[b]
            b -= 1
        idx[b + 1] = x
    return idx


@nb.njit(cache=True)
def bucket_pairs_kernel(k, g, doc, band, order, all_pairs_max, window):
    """Candidate pairs of the buckets (runs of equal ``k`` along ``order``), as row indices.

    Per bucket of two or more rows, sorted by (signature key ``g``, number ``doc``):
    identical signatures give a SAME pair (kind 1) from each member to the group's first
    (only in band 0: the group shares all its buckets, one is enough); the
    distinct signatures are paired all with all up to ``all_pairs_max`` of them, else each
    with the next ``window`` (kind 0). Returns ``(a, b, kind)``."""
    n = len(order)
    out_a = np.empty(1024, dtype=np.int64)
    out_b = np.empty(1024, dtype=np.int64)
    out_kind = np.empty(1024, dtype=np.int8)
    m = 0
    start = 0
    while start < n:
        end = start + 1
        while end < n and k[order[end]] == k[order[start]]:
            end += 1
        size = end - start
        if size >= 2:
            idx = _sort_run(g, doc, order[start:end].copy())
            reps = np.empty(size, dtype=np.int64)
            n_reps = 0
            need = m + size + size * max(all_pairs_max, window)
            if need > len(out_a):
                out_a, out_b, out_kind = (
                    _grow(out_a, need),
                    _grow(out_b, need),
                    _grow(out_kind, need),
                )
            for a in range(size):
                row = idx[a]
                if a > 0 and g[row] == g[reps[n_reps - 1]]:
                    if band[row] == 0:
                        out_a[m], out_b[m], out_kind[m] = row, reps[n_reps - 1], 1
                        m += 1
                else:
                    reps[n_reps] = row
                    n_reps += 1
            reach = all_pairs_max - 1 if n_reps <= all_pairs_max else window
            for a in range(n_reps):
                for d in range(1, reach + 1):
                    if a + d >= n_reps:
                        break
                    out_a[m], out_b[m], out_kind[m] = reps[a], reps[a + d], 0
                    m += 1
        start = end
    return out_a[:m], out_b[:m], out_kind[:m]

"""fastText prediction for a whole Arrow batch in one compiled call, equal to fastText's own.

fastText's ``predict`` on one line (``FastText::predictLine``) splits it into tokens on ASCII
whitespace, turns each token into input rows (its dictionary id, if any, and the hashed
character n-grams of ``<token>``, through the pruning index of a quantized model), averages
those rows into a hidden vector, and ranks labels by the loss (hierarchical softmax: a depth-
first search of the label tree; softmax: all labels), returning ``exp(log(p + 1e-5))``.

This kernel does the same arithmetic in the same order and precision (float32 sums row by
row, the same rounding points, the libstdc++ heap that orders the top k), so labels and
probabilities are fastText's. What makes it fast is what fastText recomputes for every
token: the rows a token maps to depend only on the token, so they are memoized per process
(byte-exact keys), and a whole batch is one call over the column's UTF-8 buffer instead of
one Python call, one ``std::string`` and one stream per document. The stage checks this
kernel against the C++ library on probe texts when it loads a model (``FastTextModel``).

Texts are scored as one line each: newlines are token separators here (the stage's
normalization, which fastText itself would read as the end of the line).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from corpusforge.stages.classify.fasttext_format import (
    ENTRY_LABEL,
    LOSS_HS,
    LOSS_SOFTMAX,
    FastTextFile,
    Quantized,
)

SUPPORTED_LOSSES = (LOSS_HS, LOSS_SOFTMAX)
EOS = b"</s>"
LABEL_PREFIX = b"__label__"
_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619
_MASK32 = 0xFFFFFFFF
_NGRAM_MUL = 116049371
_EOS = np.frombuffer(EOS, np.uint8).copy()  # module arrays: numba freezes them as constants
_LABEL = np.frombuffer(LABEL_PREFIX, np.uint8).copy()
MEMO_SLOTS = 1 << 21  # token memo: open-addressing slots (entries kept under half)
MEMO_KEY_BYTES = 1 << 24  # token bytes held by the memo
MEMO_IDS = 1 << 23  # input-row ids held by the memo (about four per token)
MEMO_MAX_TOKEN = 64  # longer tokens are computed each time (rare, and would crowd it)


# ----------------------------------------------------------------------------- hashing


@nb.njit(cache=True, inline="always")
def _fnv_step(h: np.uint64, b: np.uint8) -> np.uint64:
    """One byte of fastText's FNV-1a: the byte is read as a *signed* char, so bytes >= 0x80
    are sign-extended before the xor (``uint32_t(int8_t(c))``)."""
    x = np.uint64(b)
    if x >= 128:
        x |= np.uint64(0xFFFFFF00)
    return ((h ^ x) * np.uint64(_FNV_PRIME)) & np.uint64(_MASK32)


@nb.njit(cache=True, inline="always")
def _fnv(data: np.ndarray, s: int, e: int) -> np.uint64:
    h = np.uint64(_FNV_OFFSET)
    for i in range(s, e):
        h = _fnv_step(h, data[i])
    return h


@nb.njit(cache=True, inline="always")
def _slot(h: np.uint64, mask: int) -> int:
    h = (h ^ (h >> np.uint64(15))) * np.uint64(0x9E3779B97F4A7C15)
    return np.int64((h >> np.uint64(20)) & np.uint64(mask))


@nb.njit(cache=True, inline="always")
def _same(a: np.ndarray, a0: int, b: np.ndarray, b0: int, n: int) -> bool:
    for i in range(n):
        if a[a0 + i] != b[b0 + i]:
            return False
    return True


# ----------------------------------------------------------------------------- dictionary


@nb.njit(cache=True, inline="always")
def _word_id(data, s, e, h, d_slots, d_hash, d_start, d_len, d_bytes) -> int:
    """The dictionary entry of token ``data[s:e]`` (fastText's ``getId``), or -1."""
    mask = len(d_slots) - 1
    n = e - s
    j = _slot(h, mask)
    while d_slots[j] >= 0:
        w = d_slots[j]
        if d_hash[w] == h and d_len[w] == n and _same(d_bytes, d_start[w], data, s, n):
            return w
        j = (j + 1) & mask
    return -1


@nb.njit(cache=True, inline="always")
def _bucket_row(x, prune_size, bits, p_slots, p_keys, p_values) -> int:
    """fastText's ``pushHash``: the row offset (after the words) of n-gram bucket ``x``, or
    -1 where the model keeps no row for it. A bitmap of the kept buckets answers most
    lookups of a pruned model before its index is probed. (Arrays are passed one by one:
    unpacking a tuple of arrays costs numba reference counting on every call.)"""
    if prune_size == 0:
        return -1
    if prune_size < 0:
        return x
    if not (bits[x >> 6] >> np.uint64(x & 63)) & np.uint64(1):
        return -1
    mask = len(p_slots) - 1
    j = _slot(np.uint64(x), mask)
    while p_slots[j] >= 0:
        k = p_slots[j]
        if p_keys[k] == x:
            return p_values[k]
        j = (j + 1) & mask
    return -1


def fastmod_magic(d: int) -> np.uint64:
    """Lemire's constant for :func:`_mod32` by ``d``: ceil(2**64 / d), modulo 2**64 (0 for
    ``d`` = 1, which gives ``h % 1`` = 0)."""
    return np.uint64(((2**64 - 1) // d + 1) % 2**64)


@nb.njit(cache=True, inline="always")
def _mod32(h: np.uint64, d: int, magic: np.uint64) -> int:
    """``h % d`` for 32-bit ``h`` and ``d`` without a division (Lemire's fastmod, exact):
    it runs for every character n-gram. The high 64 bits of the 128-bit product
    ``low * d`` come from two 64-bit products."""
    low = magic * h
    hi = (low >> np.uint64(32)) * np.uint64(d)
    lo = ((low & np.uint64(_MASK32)) * np.uint64(d)) >> np.uint64(32)
    return np.int64((hi + lo) >> np.uint64(32))


@nb.njit(cache=True, inline="always")
def _subword_ids(data, s, e, out, at, nwords, minn, maxn, bucket, magic, prune, buf, starts):
    """fastText's computeSubwords of ``<token>``: the rows of its character n-grams of
    minn..maxn characters (none of one character at an end), in fastText's order, written
    to ``out`` from ``at``; returns how many. ``buf`` and ``starts`` are scratch space of at
    least the token's length + 3."""
    prune_size, bits, p_slots, p_keys, p_values = prune
    n_word = e - s + 2
    buf[0] = 60  # BOW '<'
    buf[1 : n_word - 1] = data[s:e]
    buf[n_word - 1] = 62  # EOW '>'
    n_chars = 0  # characters start at a byte that is not a UTF-8 continuation byte
    for p in range(n_word):
        if (buf[p] & 0xC0) != 0x80:
            starts[n_chars] = p
            n_chars += 1
    starts[n_chars] = n_word
    count = 0
    for c in range(n_chars):
        h = np.uint64(_FNV_OFFSET)
        for n in range(1, min(maxn, n_chars - c) + 1):
            for p in range(starts[c + n - 1], starts[c + n]):
                h = _fnv_step(h, buf[p])
            # fastText: no 1-gram of the first ('<') or last ('>') character
            if n >= minn and not (n == 1 and (c == 0 or c + 1 == n_chars)):
                r = _bucket_row(_mod32(h, bucket, magic), prune_size, bits, p_slots, p_keys,
                                p_values)  # fmt: skip
                if r >= 0:
                    out[at + count] = nwords + r
                    count += 1
    return count


@nb.njit(cache=True, inline="always")
def _token_ids(
    data, s, e, h, out, at, nwords, minn, maxn, bucket, magic, words, types, prune, buf, starts
):
    """fastText's getLine for one token: (how many ids written to ``out`` from ``at``, is it
    a label). A word's ids are its dictionary id (if any) then its n-grams; the EOS word has
    no n-grams; a label (a dictionary label, or an unknown token starting with
    ``__label__``) has no ids. ``out`` must hold ``max_token_ids`` from ``at``."""
    d_slots, d_hash, d_start, d_len, d_bytes = words
    n = e - s
    wid = _word_id(data, s, e, h, d_slots, d_hash, d_start, d_len, d_bytes)
    if wid >= 0 and types[wid] == ENTRY_LABEL:
        return 0, True
    if wid < 0 and n >= 9 and _same(data, s, _LABEL, 0, 9):
        return 0, True
    count = 0
    if wid >= 0:
        out[at] = wid
        count = 1
    if n == 4 and _same(data, s, _EOS, 0, 4):
        return count, False
    if wid < 0 or maxn > 0:
        count += _subword_ids(data, s, e, out, at + count, nwords, minn, maxn, bucket, magic,
                              prune, buf, starts)  # fmt: skip
    return count, False


@nb.njit(cache=True, inline="always")
def max_token_ids(n_bytes: int, maxn: int) -> int:
    """An upper bound on the ids of a token of ``n_bytes``: its word id and at most ``maxn``
    n-grams starting at each byte of ``<token>``."""
    return 1 + (n_bytes + 2) * max(maxn, 1)


@nb.njit(cache=True, inline="always")
def _memo_find(data, s, n, h, slots, meta, keys) -> tuple[int, int]:
    """(entry, slot) of token ``data[s:s+n]`` in the memo; entry -1 and the free slot on a
    miss. ``meta[entry]`` (int32) = (hash, key start, first id, key length << 16 | id count
    << 1 | is label): 16 bytes an entry, so a large memo stays small."""
    mask = len(slots) - 1
    j = _slot(h, mask)
    hh = np.int32(np.uint32(h))
    while slots[j] >= 0:
        k = slots[j]
        if meta[k, 0] == hh and meta[k, 3] >> 16 == n and _same(keys, meta[k, 1], data, s, n):
            return k, j
        j = (j + 1) & mask
    return -1, j


@nb.njit(cache=True, inline="always")
def _add_rows(hidden: np.ndarray, rows: np.ndarray, ids: np.ndarray, a: int, b: int) -> None:
    """fastText's hidden.addRow for ids[a:b], in order, float32 (the sum order is kept, so
    the result is the C++'s to the bit)."""
    for t in range(a, b):
        r = ids[t]
        for j in range(hidden.shape[0]):
            hidden[j] += rows[r, j]


@nb.njit(cache=True, inline="always")
def _dot(out_rows, i, hidden) -> np.float32:
    """fastText's DenseMatrix::dotRow: a float32 sum in column order."""
    d = np.float32(0.0)
    for j in range(hidden.shape[0]):
        d += out_rows[i, j] * hidden[j]
    return d


@nb.njit(cache=True, inline="always")
def _std_log(x: float) -> np.float32:
    """fastText's ``std_log(real x)``: log(x + 1e-5) in double, returned as float."""
    return np.float32(math.log(np.float64(np.float32(x)) + 1e-5))


@nb.njit(cache=True, inline="always")
def _sift_up(scores, labels, hole, score, label) -> None:
    """libstdc++'s __push_heap with fastText's comparePairs (a > b): the front is the lowest
    score; ties keep the order libstdc++ gives them."""
    parent = (hole - 1) // 2
    while hole > 0 and scores[parent] > score:
        scores[hole] = scores[parent]
        labels[hole] = labels[parent]
        hole = parent
        parent = (hole - 1) // 2
    scores[hole] = score
    labels[hole] = label


@nb.njit(cache=True, inline="always")
def _heap_push(scores, labels, size, score, label) -> int:
    """libstdc++'s push_heap: (score, label) joins the heap of ``size`` entries."""
    _sift_up(scores, labels, size, score, label)
    return size + 1


@nb.njit(cache=True, inline="always")
def _heap_pop(scores, labels, size) -> int:
    """libstdc++'s pop_heap: the front moves to the end (size - 1), the rest is a heap."""
    last = size - 1
    v_score = scores[last]
    v_label = labels[last]
    scores[last] = scores[0]
    labels[last] = labels[0]
    hole = 0
    child = 0
    while child < (last - 1) // 2:
        child = 2 * (child + 1)
        if scores[child] > scores[child - 1]:
            child -= 1
        scores[hole] = scores[child]
        labels[hole] = labels[child]
        hole = child
    if (last & 1) == 0 and child == (last - 2) // 2:
        child = 2 * (child + 1)
        scores[hole] = scores[child - 1]
        labels[hole] = labels[child - 1]
        hole = child - 1
    _sift_up(scores, labels, hole, v_score, v_label)
    return last


@nb.njit(cache=True, inline="always")
def _heap_offer(scores, labels, size, k, score, label) -> int:
    size = _heap_push(scores, labels, size, score, label)
    if size > k:
        size = _heap_pop(scores, labels, size)
    return size


@nb.njit(cache=True)
def _hs_top_k(hidden, out_rows, left, right, nlabels, k, scores, labels, stack_n, stack_s):
    """fastText's HierarchicalSoftmaxLoss::dfs from the root, threshold 0: the k best
    leaves (a heap in ``scores``/``labels``), visiting left before right."""
    floor = _std_log(0.0)
    size = 0
    stack_n[0] = 2 * nlabels - 2
    stack_s[0] = np.float32(0.0)
    top = 1
    while top > 0:
        top -= 1
        node = stack_n[top]
        score = stack_s[top]
        if score < floor:
            continue
        if size == k and score < scores[0]:
            continue
        if left[node] == -1 and right[node] == -1:
            size = _heap_offer(scores, labels, size, k, score, node)
            continue
        f = _dot(out_rows, node - nlabels, hidden)
        f = np.float32(1.0 / np.float64(np.float32(1) + np.float32(math.exp(-f))))
        stack_n[top] = right[node]
        stack_s[top] = score + _std_log(f)
        stack_n[top + 1] = left[node]
        stack_s[top + 1] = score + _std_log(1.0 - np.float64(f))
        top += 2
    return size


@nb.njit(cache=True)
def _softmax_top_k(hidden, out_rows, nlabels, k, scores, labels, output):
    """fastText's SoftmaxLoss::computeOutput then findKBest (threshold 0)."""
    for i in range(nlabels):
        output[i] = _dot(out_rows, i, hidden)
    mx = output[0]
    for i in range(nlabels):
        mx = max(output[i], mx)
    z = np.float32(0.0)
    for i in range(nlabels):
        output[i] = np.float32(math.exp(np.float64(output[i] - mx)))
        z += output[i]
    for i in range(nlabels):
        output[i] /= z
    size = 0
    for i in range(nlabels):
        if output[i] < np.float32(0.0):
            continue
        lg = _std_log(output[i])
        if size == k and lg < scores[0]:
            continue
        size = _heap_offer(scores, labels, size, k, lg, i)
    return size


@nb.njit(cache=True, inline="always")
def _is_space(b: np.uint8) -> bool:
    # fastText's readWord separators; '\n' too (a text is scored as one line)
    return b == 32 or b == 10 or b == 13 or b == 9 or b == 11 or b == 12 or b == 0


@nb.njit(cache=True)
def predict_batch(data, offsets, live, model, head, memo, k, out_labels, out_probs, out_n):
    """Top-``k`` labels (index into the model's labels) and probabilities of every live
    document of the batch ``data``/``offsets``; ``out_n`` gets how many (0: none)."""
    rows, nwords, minn, maxn, bucket, magic, words, prune, types, eos = model
    loss, out_rows, left, right, nlabels, word_ngrams = head
    slots, meta, keys, ids, used = memo
    prune_size, bits, p_slots, p_keys, p_values = prune
    dim = rows.shape[1]
    hidden = np.zeros(dim, np.float32)
    scores = np.empty(k + 1, np.float32)
    labels = np.empty(k + 1, np.int32)
    stack_n = np.empty(2 * nlabels + 2, np.int64)
    stack_s = np.empty(2 * nlabels + 2, np.float32)
    output = np.empty(nlabels, np.float32)
    scratch = np.empty(max_token_ids(MEMO_MAX_TOKEN, maxn), np.int32)
    buf = np.empty(256, np.uint8)  # '<' + token + '>' of a token the memo misses
    starts = np.empty(256, np.int64)  # its characters' first bytes
    n_docs = len(offsets) - 1
    longest = 1
    if word_ngrams > 1:
        for d in range(n_docs):
            longest = max(longest, offsets[d + 1] - offsets[d])
    hashes = np.empty(longest // 2 + 2, np.int64)
    for d in range(n_docs):
        out_n[d] = 0
        if not live[d]:
            continue
        hidden[:] = 0.0
        n_rows = 0
        n_hashes = 0
        i = offsets[d]
        end = offsets[d + 1]
        stopped = False
        while i < end and not stopped:
            while i < end and _is_space(data[i]):
                i += 1
            if i >= end:
                break
            s = i
            while i < end and not _is_space(data[i]):
                i += 1
            n = i - s
            h = _fnv(data, s, i)
            hit, free = _memo_find(data, s, n, h, slots, meta, keys)
            if hit >= 0:
                count = (meta[hit, 3] >> 1) & 0x7FFF
                _add_rows(hidden, rows, ids, meta[hit, 2], meta[hit, 2] + count)
                n_rows += count
                is_label = (meta[hit, 3] & 1) != 0
            else:
                bound = max_token_ids(n, maxn)
                memoize = n <= MEMO_MAX_TOKEN and used[0] < len(meta) and bound < 0x8000
                memoize = memoize and used[1] + n <= len(keys) and used[2] + bound <= len(ids)
                out = ids if memoize else (scratch if n <= MEMO_MAX_TOKEN else
                                           np.empty(bound, np.int32))  # fmt: skip
                at = used[2] if memoize else 0
                if n + 3 > len(buf):
                    buf = np.empty(2 * n + 3, np.uint8)
                    starts = np.empty(2 * n + 3, np.int64)
                count, is_label = _token_ids(data, s, i, h, out, at, nwords, minn, maxn, bucket,
                                             magic, words, types, prune, buf, starts)  # fmt: skip
                _add_rows(hidden, rows, out, at, at + count)
                n_rows += count
                if memoize:
                    e = used[0]
                    meta[e, 0] = np.int32(np.uint32(h))
                    meta[e, 1] = used[1]
                    meta[e, 2] = at
                    meta[e, 3] = (n << 16) | (count << 1) | np.int32(is_label)
                    keys[used[1] : used[1] + n] = data[s:i]
                    used[0] += 1
                    used[1] += n
                    used[2] += count
                    slots[free] = e
            if word_ngrams > 1 and not is_label:
                hashes[n_hashes] = np.int64(np.int32(np.uint32(h)))  # int32, as fastText
                n_hashes += 1
            stopped = n == 4 and _same(data, s, _EOS, 0, 4)  # getLine ends at an EOS token
        if not stopped:  # the newline fastText's predict appends reads as EOS
            if eos >= 0:
                for j in range(dim):
                    hidden[j] += rows[eos, j]
                n_rows += 1
            hashes[n_hashes] = np.int64(np.int32(np.uint32(_fnv(_EOS, 0, 4))))
            n_hashes += 1
        if word_ngrams > 1:
            for a in range(n_hashes):
                hv = np.uint64(hashes[a])
                for b in range(a + 1, min(n_hashes, a + word_ngrams)):
                    hv = hv * np.uint64(_NGRAM_MUL) + np.uint64(hashes[b])
                    x = np.int64(hv % np.uint64(bucket))
                    r = _bucket_row(x, prune_size, bits, p_slots, p_keys, p_values)
                    if r >= 0:
                        for j in range(dim):
                            hidden[j] += rows[nwords + r, j]
                        n_rows += 1
        if n_rows == 0:
            continue
        inv = np.float32(1.0 / n_rows)
        for j in range(dim):
            hidden[j] *= inv
        if loss == LOSS_HS:
            size = _hs_top_k(hidden, out_rows, left, right, nlabels, k, scores, labels,
                             stack_n, stack_s)  # fmt: skip
        else:
            size = _softmax_top_k(hidden, out_rows, nlabels, k, scores, labels, output)
        got = size
        while size > 1:  # libstdc++'s sort_heap: best first
            size = _heap_pop(scores, labels, size)
        for t in range(got):
            out_labels[d, t] = labels[t]
            out_probs[d, t] = np.float32(math.exp(scores[t]))
        out_n[d] = got


# ----------------------------------------------------------------------------- set-up


def _table_size(n: int) -> int:
    size = 16
    while size < 2 * n + 2:
        size *= 2
    return size


@nb.njit(cache=True)
def _fill_table(hashes, slots) -> None:
    mask = len(slots) - 1
    for k in range(len(hashes)):
        j = _slot(np.uint64(hashes[k]), mask)
        while slots[j] >= 0:
            j = (j + 1) & mask
        slots[j] = k


def _dictionary(words: list[bytes]) -> tuple:
    blob = np.frombuffer(b"".join(words) or b"\0", np.uint8)
    lens = np.array([len(w) for w in words], np.int64)
    starts = np.zeros(len(words), np.int64)
    if len(words):
        starts[1:] = np.cumsum(lens)[:-1]
    hashes = np.array([_fnv(np.frombuffer(w, np.uint8), 0, len(w)) if w else _FNV_OFFSET
                       for w in words], np.uint64)  # fmt: skip
    slots = np.full(_table_size(len(words)), -1, np.int64)
    _fill_table(hashes, slots)
    return slots, hashes, starts, lens, blob


def _prune_index(ft: FastTextFile) -> tuple:
    slots = np.full(_table_size(len(ft.prune_keys)), -1, np.int64)
    _fill_table(ft.prune_keys.astype(np.uint64), slots)
    bits = np.zeros(max(ft.bucket, 1) // 64 + 1, np.uint64)
    kept = ft.prune_keys.astype(np.int64)
    np.bitwise_or.at(bits, kept >> 6, np.left_shift(np.uint64(1), (kept & 63).astype(np.uint64)))
    return (
        np.int64(ft.prune_size),
        bits,
        slots,
        ft.prune_keys.astype(np.int64),
        ft.prune_values.astype(np.int64),
    )


def _hs_tree(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fastText's HierarchicalSoftmaxLoss::buildTree (Huffman over the label counts)."""
    osz = len(counts)
    n = 2 * osz - 1
    left = np.full(n, -1, np.int64)
    right = np.full(n, -1, np.int64)
    count = np.full(n, int(1e15), np.int64)
    count[:osz] = counts
    leaf, node = osz - 1, osz
    for i in range(osz, n):
        mini = [0, 0]
        for j in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                mini[j] = leaf
                leaf -= 1
            else:
                mini[j] = node
                node += 1
        left[i], right[i] = mini
        count[i] = count[mini[0]] + count[mini[1]]
    return left, right


def supported(ft: FastTextFile) -> str | None:
    """Why this kernel cannot run the model (None: it can)."""
    if ft.loss not in SUPPORTED_LOSSES:
        return f"loss {ft.loss} (only hierarchical softmax and softmax are compiled)"
    if isinstance(ft.output, Quantized):
        return "a quantized output matrix"
    if ft.input is None or ft.output is None:
        return "no matrices"
    if ft.nlabels < 1:
        return "no labels"
    return None


class CompiledModel:
    """A fastText model's arrays in the kernel's layout, with this process's token memo."""

    def __init__(self, ft: FastTextFile) -> None:
        why = supported(ft)
        if why is not None:
            raise ValueError(f"cannot compile this fastText model: {why}")
        rows = ft.input.decoded() if isinstance(ft.input, Quantized) else ft.input
        self.rows = np.ascontiguousarray(rows, dtype=np.float32)
        types = ft.types.astype(np.int64)
        eos = next((i for i, w in enumerate(ft.words[: ft.nwords]) if w == EOS), -1)
        self.model = (
            self.rows,
            np.int64(ft.nwords),
            np.int64(ft.minn),
            np.int64(ft.maxn),
            np.int64(max(ft.bucket, 1)),
            fastmod_magic(max(ft.bucket, 1)),
            _dictionary(ft.words),
            _prune_index(ft),
            types,
            np.int64(eos),
        )
        left, right = _hs_tree(ft.counts[ft.nwords :])
        out_rows = np.ascontiguousarray(ft.output, dtype=np.float32)
        self.head = (
            np.int64(ft.loss),
            out_rows,
            left,
            right,
            np.int64(ft.nlabels),
            np.int64(ft.word_ngrams),
        )
        self.nlabels = ft.nlabels
        self.memo = (
            np.full(MEMO_SLOTS, -1, np.int32),  # open addressing, entries under half full
            np.zeros((MEMO_SLOTS // 2, 4), np.int32),  # per entry: see _memo_find
            np.zeros(MEMO_KEY_BYTES, np.uint8),  # the tokens' bytes
            np.zeros(MEMO_IDS, np.int32),  # their input-row ids
            np.zeros(3, np.int64),  # entries, key bytes and ids in use
        )

    def predict(
        self, data: np.ndarray, offsets: np.ndarray, live: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(label indices [n, k], probabilities [n, k], predictions per document)."""
        n = len(offsets) - 1
        k = min(k, self.nlabels)
        labels = np.zeros((n, k), np.int32)
        probs = np.zeros((n, k), np.float32)
        got = np.zeros(n, np.int64)
        predict_batch(data, offsets, live, self.model, self.head, self.memo, k, labels, probs, got)
        return labels, probs, got

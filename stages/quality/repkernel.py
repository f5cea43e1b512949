"""Compiled Gopher repetition statistics of a whole batch (numba), datatrove's definitions.

Per document: duplicated paragraphs and lines (``find_duplicates``: exact string equality via a
hash and a byte comparison), the most frequent word n-gram (``find_top_duplicate`` over
" "-joined n-grams: equal exactly when the words are equal, since words hold no space) and the
characters in repeated ""-joined n-grams (``find_all_duplicate``). ""-joined n-grams can be
equal with different words (``ab c`` / ``a bc``): they are keyed by a polynomial hash of their
characters; where two of them share a hash with different words, their characters are compared
(equal: a repeat; different: a hash collision, and the document goes to the Python path).

Words are numbered per document (equal words, equal numbers: hash, then bytes), in tables the
size of the document, which stay in the CPU's caches; the per-word properties (code points, the
polynomial hash of the characters) are computed for each distinct word of the document. All
tables are allocated once per batch and emptied by a new generation number, not by clearing
their slots (ten uses per document); the per-document work runs without numba's reference
counting (as :func:`.wordkernel.scan_batch`).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from corpusforge.stages.quality.charclass import SPACE
from corpusforge.stages.quality.wordkernel import decode, hash_bytes, slot_of

BASE = np.uint64(0x100000001B3)  # odd: invertible modulo 2**64
BASE_INV = np.uint64(pow(int(BASE), -1, 1 << 64))


@nb.njit(cache=True, inline="always")
def same_bytes(data, a, b, c, d) -> bool:
    if b - a != d - c:
        return False
    for t in range(b - a):
        if data[a + t] != data[c + t]:
            return False
    return True


@nb.njit(cache=True, inline="always")
def cp_count(data, s, e) -> int:
    n = 0
    for i in range(s, e):
        n += (data[i] & 0xC0) != 0x80
    return n


@nb.njit(cache=True)
def table_size(n: int) -> int:
    """Slots of an open-addressing table for ``n`` keys (a power of two, at most half full)."""
    cap = 16
    while cap < 2 * n:
        cap <<= 1
    return cap


@nb.njit(cache=True, inline="always")
def _next_gen(stamp) -> int:
    """Empty the table whose slots are valid where ``stamp`` holds the current generation
    (``stamp[-1]``): a new generation instead of clearing the slots."""
    stamp[len(stamp) - 1] += 1
    return stamp[len(stamp) - 1]


@nb.njit(cache=True)
def dup_spans(data, ss, es, n, slot, hs, stamp) -> tuple[int, int]:
    """(duplicate elements, their code points) among the spans ``ss[:n], es[:n]``; ``slot``,
    ``hs``, ``stamp``: a table of at least :func:`table_size` (n) slots (see _next_gen)."""
    cap = table_size(n)
    gen = _next_gen(stamp)
    mask = cap - 1
    dups = chars = 0
    for t in range(n):
        h = hash_bytes(data, ss[t], es[t])
        j = slot_of(h, mask)
        while stamp[j] == gen:
            o = slot[j]
            if hs[j] == h and same_bytes(data, ss[o], es[o], ss[t], es[t]):
                break
            j = (j + 1) & mask
        if stamp[j] == gen:
            dups += 1
            chars += cp_count(data, ss[t], es[t])
        else:
            slot[j], hs[j], stamp[j] = t, h, gen
    return dups, chars


@nb.njit(cache=True)
def strip_span(data, s, e, table) -> tuple[int, int]:
    """``str.strip()`` of ``data[s:e]`` as a span."""
    while s < e:
        cp, n = decode(data, s)
        if not table[cp] & SPACE:
            break
        s += n
    while e > s:
        b = e - 1
        while data[b] & 0xC0 == 0x80:
            b -= 1
        cp, _ = decode(data, b)
        if not table[cp] & SPACE:
            break
        e = b
    return s, e


@nb.njit(cache=True)
def newline_split(data, s, e, min_run, ss, es) -> int:
    """``re.split("\\n{min_run,}", data[s:e])`` as spans; their count."""
    n, a, i = 0, s, s
    while i < e:
        if data[i] == 10:
            j = i
            while j < e and data[j] == 10:
                j += 1
            if j - i >= min_run:
                ss[n], es[n] = a, i
                n += 1
                a = j
            i = j
        else:
            i += 1
    ss[n], es[n] = a, e
    return n + 1


@nb.njit(cache=True)
def _number_words(data, ws, we, a, b, slot, hs, stamp, lid, first, cp_len, ph, pw, pwi) -> int:
    """Number the words ``[a, b)`` of a document (``lid``: equal words, equal numbers) and
    give each number its properties: code points, polynomial hash of the code points,
    BASE**len and BASE_INV**len (to hash concatenations). Returns the count of numbers."""
    cap = table_size(b - a)
    gen = _next_gen(stamp)
    mask = cap - 1
    n_ids = 0
    for w in range(a, b):
        h = hash_bytes(data, ws[w], we[w])
        j = slot_of(h, mask)
        while True:
            if stamp[j] != gen:
                slot[j], hs[j], stamp[j] = n_ids, h, gen
                first[n_ids], lid[w - a] = w, n_ids
                _word_props(data, ws[w], we[w], n_ids, cp_len, ph, pw, pwi)
                n_ids += 1
                break
            sid = slot[j]
            f = first[sid]
            if hs[j] == h and same_bytes(data, ws[f], we[f], ws[w], we[w]):
                lid[w - a] = sid
                break
            j = (j + 1) & mask
    return n_ids


@nb.njit(cache=True)
def _word_props(data, s, e, t, cp_len, ph, pw, pwi) -> None:
    h, p, q, n_cp, i = np.uint64(0), np.uint64(1), np.uint64(1), 0, s
    while i < e:
        cp, n = decode(data, i)
        h = h * BASE + np.uint64(cp)
        p *= BASE
        q *= BASE_INV
        n_cp += 1
        i += n
    cp_len[t], ph[t], pw[t], pwi[t] = n_cp, h, p, q


@nb.njit(cache=True, inline="always")
def _same_ids(ids, a, b, n) -> bool:
    for t in range(n):
        if ids[a + t] != ids[b + t]:
            return False
    return True


@nb.njit(cache=True)
def top_ngram(lid, m, n, cp_len, slot, hs, stamp, count) -> int:
    """Code points of the most frequent " "-joined n-gram of the words ``lid[:m]`` times its
    count (first seen wins ties); -1 with fewer than n words."""
    k = m - n + 1
    if k <= 0:
        return -1
    cap = table_size(k)
    gen = _next_gen(stamp)
    mask = cap - 1
    best, best_pos = 0, 0
    for p in range(k):
        h = np.uint64(n)
        for t in range(n):
            h = (h ^ np.uint64(lid[p + t])) * np.uint64(0x100000001B3)
        j = slot_of(h, mask)
        while stamp[j] == gen and not (hs[j] == h and _same_ids(lid, slot[j], p, n)):
            j = (j + 1) & mask
        if stamp[j] != gen:
            slot[j], hs[j], stamp[j], count[p] = p, h, gen, 0
        q = slot[j]
        count[q] += 1
        if count[q] > best or (count[q] == best and q < best_pos):
            best, best_pos = count[q], q
    chars = n - 1
    for t in range(n):
        chars += cp_len[lid[best_pos + t]]
    return chars * best


@nb.njit(cache=True)
def _prefix_hashes(lid, m, cp_len, ph, pw, pwi, P, Q, Qi, C) -> None:
    P[0], Q[0], Qi[0], C[0] = 0, 1, 1, 0
    for t in range(m):
        w = lid[t]
        P[t + 1] = P[t] * pw[w] + ph[w]
        Q[t + 1] = Q[t] * pw[w]
        Qi[t + 1] = Qi[t] * pwi[w]
        C[t + 1] = C[t] + cp_len[w]


@nb.njit(cache=True)
def _same_chars(data, ws, we, a, b, n) -> bool:
    """Whether words ``[a, a + n)`` and ``[b, b + n)`` joined without spaces are the same
    string: their bytes compared across word boundaries."""
    wa, wb = a, b
    ia, ib = ws[wa], ws[wb]
    while True:
        while wa < a + n and ia == we[wa]:
            wa += 1
            ia = ws[wa] if wa < a + n else 0
        while wb < b + n and ib == we[wb]:
            wb += 1
            ib = ws[wb] if wb < b + n else 0
        if wa == a + n or wb == b + n:
            return wa == a + n and wb == b + n
        if data[ia] != data[ib]:
            return False
        ia += 1
        ib += 1


@nb.njit(cache=True)
def dup_ngram(data, ws, we, wa, lid, m, n, P, Q, Qi, C, slot, hs, stamp) -> int:
    """Code points in repeated ""-joined n-grams, skipping n words past each repeat
    (datatrove's ``find_all_duplicate``). Equal character hashes are confirmed by the word
    numbers or, where those differ ("ab" "c" / "a" "bc"), by the characters; -1 when the
    characters differ too (a hash collision: the Python path decides)."""
    k = m - n + 1
    if k <= 0:
        return 0
    cap = table_size(k)
    gen = _next_gen(stamp)
    mask = cap - 1
    total, p = 0, 0
    while p < k:
        h = P[p + n] - P[p] * Q[p + n] * Qi[p]
        h ^= np.uint64(C[p + n] - C[p]) * np.uint64(0x9E3779B97F4A7C15)
        j = slot_of(h, mask)
        while stamp[j] == gen and hs[j] != h:
            j = (j + 1) & mask
        if stamp[j] == gen:
            q = slot[j]
            if not _same_ids(lid, q, p, n) and not _same_chars(data, ws, we, wa + q, wa + p, n):
                return -1
            total += C[p + n] - C[p]
            p += n
        else:
            slot[j], hs[j], stamp[j] = p, h, gen
            p += 1
    return total


@nb.njit(cache=True)
def _largest(data, offsets, ok, doc_off) -> tuple[int, int]:
    """(most words, most newlines + 1) of a document the kernel handles."""
    words, pieces = 1, 1
    for d in range(len(offsets) - 1):
        if ok[d]:
            words = max(words, doc_off[d + 1] - doc_off[d])
            nl = 1
            for i in range(offsets[d], offsets[d + 1]):
                nl += data[i] == 10
            pieces = max(pieces, nl)
    return words, pieces


@nb.njit(cache=True)
def repetition_batch(data, offsets, ok, doc_off, ws, we, table, top_ns, dup_ns):
    """Per document: [chars, paragraphs, dup paragraphs, their chars, lines, dup lines, their
    chars], top n-gram chars per ``top_ns`` (-1: fewer words), repeated n-gram chars per
    ``dup_ns`` (-1: ambiguous, see :func:`dup_ngram`)."""
    n_docs = len(offsets) - 1
    stats = np.zeros((n_docs, 7), np.int64)
    top = np.full((n_docs, len(top_ns)), -1, np.int64)
    dup = np.zeros((n_docs, len(dup_ns)), np.int64)
    words, pieces = _largest(data, offsets, ok, doc_off)
    cap = table_size(max(words, pieces))
    slot, hs = np.empty(cap, np.int64), np.empty(cap, np.uint64)
    stamp = np.full(cap + 1, -1, np.int64)  # generations (see _next_gen); the last: current
    stamp[cap] = 0
    ints = np.empty((5, words + 1), np.int64)  # lid, first, cp_len, count, C
    hashes = np.empty((6, words + 1), np.uint64)  # ph, pw, pwi, P, Q, Qi
    spans = np.empty((2, pieces), np.int64)
    _rep_docs(data, offsets, ok, doc_off, ws, we, table, top_ns, dup_ns, stats, top, dup,
              slot, hs, stamp, ints, hashes, spans)  # fmt: skip
    return stats, top, dup


# No reference counting (it may not allocate): numba would count references to the arrays
# passed at every helper call (see wordkernel.scan_batch).
@nb.njit(cache=True, _nrt=False)
def _rep_docs(data, offsets, ok, doc_off, ws, we, table, top_ns, dup_ns, stats, top, dup,
              slot, hs, stamp, ints, hashes, spans) -> None:  # fmt: skip
    lid, first, cp_len, count, C = ints[0], ints[1], ints[2], ints[3], ints[4]
    ph, pw, pwi, P, Q, Qi = hashes[0], hashes[1], hashes[2], hashes[3], hashes[4], hashes[5]
    ss, es = spans[0], spans[1]
    for d in range(len(offsets) - 1):
        s, e = offsets[d], offsets[d + 1]
        if not ok[d] or s == e:
            continue
        stats[d, 0] = cp_count(data, s, e)
        a, b = strip_span(data, s, e, table)
        n = newline_split(data, a, b, 2, ss, es)
        stats[d, 1] = n
        stats[d, 2], stats[d, 3] = dup_spans(data, ss, es, n, slot, hs, stamp)
        n = newline_split(data, s, e, 1, ss, es)
        stats[d, 4] = n
        stats[d, 5], stats[d, 6] = dup_spans(data, ss, es, n, slot, hs, stamp)
        wa, wb = doc_off[d], doc_off[d + 1]
        m = wb - wa
        _number_words(data, ws, we, wa, wb, slot, hs, stamp, lid, first, cp_len, ph, pw, pwi)
        for t in range(len(top_ns)):
            top[d, t] = top_ngram(lid, m, top_ns[t], cp_len, slot, hs, stamp, count)
        _prefix_hashes(lid, m, cp_len, ph, pw, pwi, P, Q, Qi, C)
        for t in range(len(dup_ns)):
            dup[d, t] = dup_ngram(data, ws, we, wa, lid, m, dup_ns[t], P, Q, Qi, C, slot, hs, stamp)

"""Compiled Gopher repetition statistics of a whole batch (numba), datatrove's definitions.

Per document: duplicated paragraphs and lines (``find_duplicates``: exact string equality via a
hash and a byte comparison), the most frequent word n-gram (``find_top_duplicate`` over
" "-joined n-grams: equal exactly when the word ids are equal, since words hold no space) and
the characters in repeated ""-joined n-grams (``find_all_duplicate``). ""-joined n-grams can be
equal with different words (``ab c`` / ``a bc``): they are keyed by a polynomial hash of their
characters, and a hash shared by two different word sequences (a real match or a collision)
flags the document for the Python path instead of guessing.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from corpusforge.stages.quality.charclass import SPACE
from corpusforge.stages.quality.wordids import hash_table, same_bytes
from corpusforge.stages.quality.wordkernel import decode, hash_bytes, slot_of


@nb.njit(cache=True, inline="always")
def cp_count(data, s, e) -> int:
    n = 0
    for i in range(s, e):
        n += (data[i] & 0xC0) != 0x80
    return n


@nb.njit(cache=True)
def find_duplicates(data, ss, es, n) -> tuple[int, int]:
    """(duplicate elements, their code points) among the spans ``ss[:n], es[:n]``."""
    slot, hs, mask = hash_table(n)
    dups = chars = 0
    for t in range(n):
        h = hash_bytes(data, ss[t], es[t])
        j = slot_of(h, mask)
        while slot[j] >= 0:
            o = slot[j]
            if hs[j] == h and same_bytes(data, ss[o], es[o], ss[t], es[t]):
                break
            j = (j + 1) & mask
        if slot[j] >= 0:
            dups += 1
            chars += cp_count(data, ss[t], es[t])
        else:
            slot[j], hs[j] = t, h
    return dups, chars


@nb.njit(cache=True)
def _strip(data, s, e, table) -> tuple[int, int]:
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


@nb.njit(cache=True, inline="always")
def _same_ids(ids, a, b, n) -> bool:
    for t in range(n):
        if ids[a + t] != ids[b + t]:
            return False
    return True


@nb.njit(cache=True)
def top_ngram(ids, a, b, n, cp_len) -> int:
    """Code points of the most frequent " "-joined n-gram times its count (first seen wins
    ties); -1 with fewer than n words."""
    m = b - a - n + 1
    if m <= 0:
        return -1
    slot, hs, mask = hash_table(m)
    count = np.zeros(m, np.int64)
    best, best_pos = 0, 0
    for p in range(a, a + m):
        h = np.uint64(n)
        for t in range(n):
            h = (h ^ np.uint64(ids[p + t])) * np.uint64(0x100000001B3)
        j = slot_of(h, mask)
        while slot[j] >= 0 and not (hs[j] == h and _same_ids(ids, slot[j], p, n)):
            j = (j + 1) & mask
        if slot[j] < 0:
            slot[j], hs[j] = p, h
        q = slot[j] - a
        count[q] += 1
        if count[q] > best or (count[q] == best and q < best_pos):
            best, best_pos = count[q], q
    chars = n - 1
    for t in range(n):
        chars += cp_len[ids[a + best_pos + t]]
    return chars * best


@nb.njit(cache=True)
def span_buffers(offsets):
    """Two span arrays large enough for the pieces of any one document."""
    longest = 1
    for d in range(len(offsets) - 1):
        longest = max(longest, offsets[d + 1] - offsets[d] + 1)
    return np.empty(longest, np.int64), np.empty(longest, np.int64)


@nb.njit(cache=True)
def _prefix_hashes(ids, a, b, cp_len, ph, pw, pwi):
    m = b - a
    P = np.zeros(m + 1, np.uint64)
    Q = np.ones(m + 1, np.uint64)
    Qi = np.ones(m + 1, np.uint64)
    C = np.zeros(m + 1, np.int64)
    for t in range(m):
        w = ids[a + t]
        P[t + 1] = P[t] * pw[w] + ph[w]
        Q[t + 1] = Q[t] * pw[w]
        Qi[t + 1] = Qi[t] * pwi[w]
        C[t + 1] = C[t] + cp_len[w]
    return P, Q, Qi, C


@nb.njit(cache=True)
def dup_ngram(ids, a, b, n, pre) -> int:
    """Code points in repeated ""-joined n-grams, skipping n words past each repeat
    (datatrove's ``find_all_duplicate``); -1 when two different word sequences share a
    character hash (the Python path decides)."""
    P, Q, Qi, C = pre
    m = b - a - n + 1
    if m <= 0:
        return 0
    slot, hs, mask = hash_table(m)
    total, p = 0, 0
    while p < m:
        h = P[p + n] - P[p] * Q[p + n] * Qi[p]
        h ^= np.uint64(C[p + n] - C[p]) * np.uint64(0x9E3779B97F4A7C15)
        j = slot_of(h, mask)
        while slot[j] >= 0 and hs[j] != h:
            j = (j + 1) & mask
        if slot[j] >= 0:
            if not _same_ids(ids, a + slot[j], a + p, n):
                return -1
            total += C[p + n] - C[p]
            p += n
        else:
            slot[j], hs[j] = p, h
            p += 1
    return total


@nb.njit(cache=True)
def repetition_batch(data, offsets, ok, doc_off, ids, cp_len, ph, pw, pwi, table, top_ns,
                     dup_ns):  # fmt: skip
    """Per document: [chars, paragraphs, dup paragraphs, their chars, lines, dup lines, their
    chars], top n-gram chars per ``top_ns`` (-1: fewer words), repeated n-gram chars per
    ``dup_ns`` (-1: ambiguous, see :func:`dup_ngram`)."""
    n_docs = len(offsets) - 1
    stats = np.zeros((n_docs, 7), np.int64)
    top = np.full((n_docs, len(top_ns)), -1, np.int64)
    dup = np.zeros((n_docs, len(dup_ns)), np.int64)
    ss, es = span_buffers(offsets)
    for d in range(n_docs):
        s, e = offsets[d], offsets[d + 1]
        if not ok[d] or s == e:
            continue
        stats[d, 0] = cp_count(data, s, e)
        a, b = _strip(data, s, e, table)
        n = newline_split(data, a, b, 2, ss, es)
        stats[d, 1] = n
        stats[d, 2], stats[d, 3] = find_duplicates(data, ss, es, n)
        n = newline_split(data, s, e, 1, ss, es)
        stats[d, 4] = n
        stats[d, 5], stats[d, 6] = find_duplicates(data, ss, es, n)
        wa, wb = doc_off[d], doc_off[d + 1]
        for t in range(len(top_ns)):
            top[d, t] = top_ngram(ids, wa, wb, top_ns[t], cp_len)
        pre = _prefix_hashes(ids, wa, wb, cp_len, ph, pw, pwi)
        for t in range(len(dup_ns)):
            dup[d, t] = dup_ngram(ids, wa, wb, dup_ns[t], pre)
    return stats, top, dup

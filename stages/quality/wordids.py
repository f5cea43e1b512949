"""Per-batch word ids and per-word properties, compiled (numba).

Words (byte spans from :func:`.wordkernel.scan_batch`) are interned per batch: two words get
the same id exactly when their bytes are equal (hash, then byte comparison). Each distinct word
is decoded once for the properties the rules need.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from corpusforge.stages.quality.charclass import ALPHA, CATP, PUNCTSET, SENTP
from corpusforge.stages.quality.wordkernel import decode, hash_bytes, slot_of

NON_SYMBOL, HAS_ALPHA, ALL_PUNCT, SENT_PUNCT = 1, 2, 4, 8
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


@nb.njit(cache=True)
def hash_table(n):
    """An empty open-addressing table for ``n`` keys: (slots, hashes, mask)."""
    cap = 16
    while cap < 2 * n:
        cap <<= 1
    return np.full(cap, -1, np.int64), np.empty(cap, np.uint64), cap - 1


@nb.njit(cache=True)
def intern_words(data, ws, we):
    """(id of each word, index of each id's first word)."""
    n = len(ws)
    slot_id, slot_h, mask = hash_table(n)
    ids = np.empty(n, np.int64)
    first = np.empty(n, np.int64)
    n_ids = 0
    for w in range(n):
        h = hash_bytes(data, ws[w], we[w])
        j = slot_of(h, mask)
        while True:
            sid = slot_id[j]
            if sid < 0:
                slot_id[j], slot_h[j], first[n_ids], ids[w] = n_ids, h, w, n_ids
                n_ids += 1
                break
            f = first[sid]
            if slot_h[j] == h and same_bytes(data, ws[f], we[f], ws[w], we[w]):
                ids[w] = sid
                break
            j = (j + 1) & mask
    return ids, first[:n_ids].copy()


@nb.njit(cache=True)
def word_props(data, ws, we, first, table, stop_hash, stop_words, stop_off):
    """Per id: code points, flags, stop-word index (-1: none), polynomial hash of the code
    points and BASE**len, BASE_INV**len (to hash concatenations of words)."""
    m = len(first)
    cp_len = np.zeros(m, np.int64)
    flags = np.zeros(m, np.int64)
    stop = np.full(m, -1, np.int64)
    ph = np.zeros(m, np.uint64)
    pw = np.ones(m, np.uint64)
    pwi = np.ones(m, np.uint64)
    for t in range(m):
        s, e = ws[first[t]], we[first[t]]
        i, nsym, alpha, allp, sent, h = s, False, False, True, False, np.uint64(0)
        while i < e:
            cp, n = decode(data, i)
            f = table[cp]
            nsym = nsym or not f & PUNCTSET
            alpha = alpha or f & ALPHA != 0
            allp = allp and f & CATP != 0
            sent = f & SENTP != 0 and i == s and i + n == e
            h = h * BASE + np.uint64(cp)
            pw[t] *= BASE
            pwi[t] *= BASE_INV
            cp_len[t] += 1
            i += n
        ph[t] = h
        flags[t] = NON_SYMBOL * nsym + HAS_ALPHA * alpha + ALL_PUNCT * allp + SENT_PUNCT * sent
        j = np.searchsorted(stop_hash, hash_bytes(data, s, e))
        while j < len(stop_hash) and stop_hash[j] == hash_bytes(data, s, e):
            a, b = stop_off[j], stop_off[j + 1]
            if b - a == e - s and np.all(stop_words[a:b] == data[s:e]):
                stop[t] = j
            j += 1
    return cp_len, flags, stop, ph, pw, pwi

"""Compiled line and word counts of FineWeb's and Gopher's quality rules (numba), per batch.

Lines are cut as datatrove cuts them: ``str.split("\\n")`` for FineWeb, ``str.splitlines()``
(every Unicode line boundary, ``\\r\\n`` as one) for Gopher; strip and blank tests use
``str.isspace`` (the ``SPACE`` class). Duplicate lines use :func:`.repkernel.find_duplicates`.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from corpusforge.stages.quality.charclass import ALPHA, LINEBREAK, PUNCTSET, SPACE, TERM
from corpusforge.stages.quality.repkernel import cp_count, dup_spans, new_table
from corpusforge.stages.quality.wordkernel import decode, hash_bytes


@nb.njit(cache=True, inline="always")
def _last_char(data, s, e) -> int:
    b = e - 1
    while data[b] & 0xC0 == 0x80:
        b -= 1
    return b


@nb.njit(cache=True)
def _blank(data, s, e, table) -> bool:
    while s < e:
        cp, n = decode(data, s)
        if not table[cp] & SPACE:
            return False
        s += n
    return True


@nb.njit(cache=True)
def fineweb_batch(data, data8, offsets, ok, doc_off, table, short_len):
    """Per document: [non-blank lines, ending in a stop char, short, duplicated line chars,
    chars without newlines, newlines, words]."""
    n_docs = len(offsets) - 1
    out = np.zeros((n_docs, 7), np.int64)
    longest = 1
    for d in range(n_docs):
        longest = max(longest, offsets[d + 1] - offsets[d] + 1)
    ss, es = np.empty(longest, np.int64), np.empty(longest, np.int64)
    tab = new_table(longest)
    for d in range(n_docs):
        if not ok[d]:
            continue
        s, e = offsets[d], offsets[d + 1]
        n, a, nl = 0, s, 0
        for i in range(s, e + 1):
            if i < e and data[i] != 10:
                continue
            nl += i < e
            if not _blank(data, a, i, table):
                ss[n], es[n] = a, i
                n += 1
                cp, _ = decode(data, _last_char(data, a, i))
                out[d, 1] += table[cp] & TERM != 0
                out[d, 2] += cp_count(data, a, i) <= short_len
            a = i + 1
        out[d, 0] = n
        out[d, 3] = dup_spans(data, data8, ss, es, n, tab)[1]
        out[d, 4] = cp_count(data, s, e) - nl
        out[d, 5] = nl
        out[d, 6] = doc_off[d + 1] - doc_off[d]
    return out


@nb.njit(cache=True)
def _gopher_lines(data, s, e, table, out, d) -> None:
    """``str.splitlines()`` of the document: lines, bullet lines, ellipsis-ending lines."""
    a, i = s, s
    while i < e:
        cp, n = decode(data, i)
        if not table[cp] & LINEBREAK:
            i += n
            continue
        _one_line(data, a, i, table, out, d)
        i += 2 if cp == 13 and i + 1 < e and data[i + 1] == 10 else n
        a = i
    if a < e:
        _one_line(data, a, e, table, out, d)


@nb.njit(cache=True)
def _one_line(data, a, b, table, out, d) -> None:
    out[d, 7] += 1
    while a < b:  # lstrip
        cp, n = decode(data, a)
        if not table[cp] & SPACE:
            break
        a += n
    if a < b:
        cp, _ = decode(data, a)
        out[d, 8] += cp == 0x2022 or cp == 45
    while b > a:  # rstrip
        cp, _ = decode(data, _last_char(data, a, b))
        if not table[cp] & SPACE:
            break
        b = _last_char(data, a, b)
    dots = b - a >= 3 and data[b - 1] == 46 and data[b - 2] == 46 and data[b - 3] == 46
    ell = b - a >= 3 and data[b - 3] == 0xE2 and data[b - 2] == 0x80 and data[b - 1] == 0xA6
    out[d, 9] += dots or ell


@nb.njit(cache=True)
def gopher_quality_batch(data, offsets, ok, doc_off, ws, we, table, stop_hash, stop_words,
                         stop_off):  # fmt: skip
    """Per document: [words, non-symbol words, their code points, words with a letter,
    distinct stop words, "#", "..." and "…" counts, lines, bullet lines, ellipsis lines].
    Stop words: sorted by hash (``stop_hash``), bytes ``stop_words[stop_off[i]:...]``."""
    n_docs = len(offsets) - 1
    out = np.zeros((n_docs, 10), np.int64)
    seen = np.full(max(len(stop_hash), 1), -1, np.int64)
    _quality_docs(data, offsets, ok, doc_off, ws, we, table, stop_hash, stop_words, stop_off,
                  seen, out)  # fmt: skip
    return out


# No reference counting (it may not allocate): numba would count references to the arrays
# passed at every helper call, per word (see wordkernel.scan_batch).
@nb.njit(cache=True, _nrt=False)
def _quality_docs(data, offsets, ok, doc_off, ws, we, table, stop_hash, stop_words, stop_off,
                  seen, out) -> None:  # fmt: skip
    for d in range(len(offsets) - 1):
        if not ok[d]:
            continue
        for w in range(doc_off[d], doc_off[d + 1]):
            _word(data, ws[w], we[w], d, table, stop_hash, stop_words, stop_off, seen, out)
        s, e = offsets[d], offsets[d + 1]
        i = s
        while i < e:
            if data[i] == 35:
                out[d, 5] += 1
            elif data[i] == 46 and i + 2 < e and data[i + 1] == 46 and data[i + 2] == 46:
                out[d, 6] += 1
                i += 3
                continue
            elif data[i] == 0xE2 and i + 2 < e and data[i + 1] == 0x80 and data[i + 2] == 0xA6:
                out[d, 6] += 1
            i += 1
        _gopher_lines(data, s, e, table, out, d)


@nb.njit(cache=True)
def _word(data, s, e, d, table, stop_hash, stop_words, stop_off, seen, out) -> None:
    """One word of document ``d`` into its counts: a symbol word is made only of
    PUNCTUATION_SET characters; a stop word counts once per document."""
    n_cp, non_symbol, alpha, i = 0, False, False, s
    while i < e:
        cp, n = decode(data, i)
        f = table[cp]
        non_symbol = non_symbol or not f & PUNCTSET
        alpha = alpha or f & ALPHA != 0
        n_cp += 1
        i += n
    out[d, 0] += 1
    if non_symbol:
        out[d, 1] += 1
        out[d, 2] += n_cp
    out[d, 3] += alpha
    if len(stop_hash) == 0:
        return
    h = hash_bytes(data, s, e)
    lo, hi = 0, len(stop_hash)
    while lo < hi:  # the first stop word with this hash (several may share it)
        mid = (lo + hi) >> 1
        if stop_hash[mid] < h:
            lo = mid + 1
        else:
            hi = mid
    while lo < len(stop_hash) and stop_hash[lo] == h:
        a, b = stop_off[lo], stop_off[lo + 1]
        if b - a == e - s and seen[lo] != d and _same(stop_words, a, data, s, e - s):
            seen[lo] = d
            out[d, 4] += 1
        lo += 1


@nb.njit(cache=True)
def _same(x, a, y, b, n) -> bool:
    for t in range(n):
        if x[a + t] != y[b + t]:
            return False
    return True

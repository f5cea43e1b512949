"""Compiled line and word counts of FineWeb's and Gopher's quality rules (numba), per batch.

Lines are cut as datatrove cuts them: ``str.split("\\n")`` for FineWeb, ``str.splitlines()``
(every Unicode line boundary, ``\\r\\n`` as one) for Gopher; strip and blank tests use
``str.isspace`` (the ``SPACE`` class). Duplicate lines use :func:`.repkernel.find_duplicates`.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from corpusforge.stages.quality.charclass import LINEBREAK, SPACE, TERM
from corpusforge.stages.quality.repkernel import cp_count, find_duplicates, span_buffers
from corpusforge.stages.quality.wordids import HAS_ALPHA, NON_SYMBOL
from corpusforge.stages.quality.wordkernel import decode


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
def fineweb_batch(data, offsets, ok, doc_off, table, short_len):
    """Per document: [non-blank lines, ending in a stop char, short, duplicated line chars,
    chars without newlines, newlines, words]."""
    n_docs = len(offsets) - 1
    out = np.zeros((n_docs, 7), np.int64)
    ss, es = span_buffers(offsets)
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
        out[d, 3] = find_duplicates(data, ss, es, n)[1]
        out[d, 4] = cp_count(data, s, e) - nl
        out[d, 5] = nl
        out[d, 6] = doc_off[d + 1] - doc_off[d]
    return out


@nb.njit(cache=True)
def _gopher_lines(data, s, e, table, row) -> None:
    """``str.splitlines()`` of the document: lines, bullet lines, ellipsis-ending lines."""
    a, i = s, s
    while i < e:
        cp, n = decode(data, i)
        if not table[cp] & LINEBREAK:
            i += n
            continue
        _one_line(data, a, i, table, row)
        i += 2 if cp == 13 and i + 1 < e and data[i + 1] == 10 else n
        a = i
    if a < e:
        _one_line(data, a, e, table, row)


@nb.njit(cache=True)
def _one_line(data, a, b, table, row) -> None:
    row[7] += 1
    while a < b:  # lstrip
        cp, n = decode(data, a)
        if not table[cp] & SPACE:
            break
        a += n
    if a < b:
        cp, _ = decode(data, a)
        row[8] += cp == 0x2022 or cp == 45
    while b > a:  # rstrip
        cp, _ = decode(data, _last_char(data, a, b))
        if not table[cp] & SPACE:
            break
        b = _last_char(data, a, b)
    dots = b - a >= 3 and data[b - 1] == 46 and data[b - 2] == 46 and data[b - 3] == 46
    ell = b - a >= 3 and data[b - 3] == 0xE2 and data[b - 2] == 0x80 and data[b - 1] == 0xA6
    row[9] += dots or ell


@nb.njit(cache=True)
def gopher_quality_batch(data, offsets, ok, doc_off, ids, cp_len, flags, stop, n_stop, table):
    """Per document: [words, non-symbol words, their code points, words with a letter,
    distinct stop words, "#", "..." and "…" counts, lines, bullet lines, ellipsis lines]."""
    n_docs = len(offsets) - 1
    out = np.zeros((n_docs, 10), np.int64)
    seen = np.full(max(n_stop, 1), -1, np.int64)
    for d in range(n_docs):
        if not ok[d]:
            continue
        row = out[d]
        for w in range(doc_off[d], doc_off[d + 1]):
            t = ids[w]
            row[0] += 1
            if flags[t] & NON_SYMBOL:
                row[1] += 1
                row[2] += cp_len[t]
            row[3] += flags[t] & HAS_ALPHA != 0
            if stop[t] >= 0 and seen[stop[t]] != d:
                seen[stop[t]] = d
                row[4] += 1
        s, e = offsets[d], offsets[d + 1]
        i = s
        while i < e:
            if data[i] == 35:
                row[5] += 1
            elif data[i] == 46 and i + 2 < e and data[i + 1] == 46 and data[i + 2] == 46:
                row[6] += 1
                i += 3
                continue
            elif data[i] == 0xE2 and i + 2 < e and data[i + 1] == 0x80 and data[i + 2] == 0xA6:
                row[6] += 1
            i += 1
        _gopher_lines(data, s, e, table, row)
    return out

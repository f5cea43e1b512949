"""Compiled Gopher repetition statistics of a whole batch (numba), datatrove's definitions.

Per document: duplicated paragraphs and lines (``find_duplicates``: exact string equality via a
hash and a byte comparison), the most frequent word n-gram (``find_top_duplicate`` over
" "-joined n-grams: equal exactly when the words are equal, since words hold no space) and the
characters in repeated ""-joined n-grams (``find_all_duplicate``). ""-joined n-grams can be
equal with different words (``ab c`` / ``a bc``): the document's words are joined into one
byte string (:func:`_join`), where every ""-joined n-gram is a span, hashed and compared as
bytes. Only the positions where some such n-gram could repeat are visited
(:func:`repeat_candidates`, from the first bytes of the joined text at each word: 8% of the
positions of 20 MB of the standard corpus).

Words are numbered per document (equal words, equal numbers: hash, then bytes), in tables the
size of the document, which stay in the CPU's caches. All tables are allocated once per batch
and emptied by a new generation number, not by clearing their slots (ten uses per document); a
slot's generation, first position and hash share one cache line. Lines and paragraphs are found
in one pass over the document. Lines, paragraphs, words and joined spans are keyed by
:func:`span_hash` (eight bytes per load and multiply, through an unaligned 64-bit view of the
batch, :func:`words8`; equal keys are confirmed byte for byte, eight at a time). The most
frequent 3- and 4-grams are only counted where the (n-1)-gram at the same position repeats: an
n-gram seen twice starts an (n-1)-gram seen twice, so the others cannot win unless no n-gram
repeats (then the first one does). The per-document work runs without numba's reference
counting (as :func:`.wordkernel.scan_batch`).
"""

from __future__ import annotations

import sys

import numba as nb
import numpy as np

from corpusforge.stages.quality.charclass import SPACE
from corpusforge.stages.quality.wordkernel import decode, slot_of

_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xC2B2AE3D27D4EB4F)


_ALL64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def words8(data: np.ndarray) -> np.ndarray:
    """``data`` (bytes) as unaligned little-endian 64-bit words, one starting at every byte
    but the last seven: :func:`load8` reads eight bytes at once from it. Empty on a
    big-endian machine (then every read goes byte by byte)."""
    if sys.byteorder != "little" or len(data) < 8:
        return np.zeros(0, np.uint64)
    return np.ndarray((len(data) - 7,), np.uint64, buffer=data, strides=(1,))


@nb.njit(cache=True, inline="always")
def load8(data, data8, i, n) -> np.uint64:
    """The ``n`` (1 to 8) bytes from ``data[i]`` as one little-endian word: one load from
    ``data8`` (:func:`words8`) where eight bytes can be read there."""
    if i < len(data8):
        return data8[i] & (_ALL64 >> np.uint64(64 - 8 * n))
    x = np.uint64(0)
    for t in range(n):
        x |= np.uint64(data[i + t]) << np.uint64(8 * t)
    return x


@nb.njit(cache=True, inline="always")
def same_bytes(data, data8, a, b, c, d) -> bool:
    n = b - a
    if n != d - c:
        return False
    t = 0
    while t + 8 <= n:
        if load8(data, data8, a + t, 8) != load8(data, data8, c + t, 8):
            return False
        t += 8
    return t == n or load8(data, data8, a + t, n - t) == load8(data, data8, c + t, n - t)


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


@nb.njit(cache=True)
def table_shift(n: int) -> np.uint64:
    """64 - log2 of :func:`table_size` (n): ``h >> shift`` is a slot from a hash's top bits."""
    shift, cap = 64, table_size(n)
    while cap > 1:
        cap >>= 1
        shift -= 1
    return np.uint64(shift)


@nb.njit(cache=True)
def new_table(n: int) -> np.ndarray:
    """An empty table for up to ``n`` keys: row j is (generation << 32 | value, hash) of slot
    j, the last row holds the current generation (see :func:`next_gen`)."""
    tab = np.full((table_size(n) + 1, 2), -1, np.int64)
    tab[len(tab) - 1, 0] = 0
    return tab


@nb.njit(cache=True, inline="always")
def next_gen(tab) -> int:
    """Empty ``tab`` by a new generation instead of clearing its slots; the generation."""
    g = tab[len(tab) - 1, 0] + 1
    tab[len(tab) - 1, 0] = g
    return g


@nb.njit(cache=True, inline="always")
def _live(tab, j, gen) -> bool:
    return (tab[j, 0] >> 32) == gen


@nb.njit(cache=True, inline="always")
def _value(tab, j) -> int:
    return tab[j, 0] & 0xFFFFFFFF


@nb.njit(cache=True, inline="always")
def _put(tab, j, gen, value, h) -> None:
    tab[j, 0] = (gen << 32) | value
    tab[j, 1] = h


@nb.njit(cache=True, inline="always")
def span_hash(data, data8, s, e) -> np.int64:
    """Hash of ``data[s:e]``: eight bytes per load and multiply (a table key; equal hashes
    are confirmed by the bytes)."""
    h = np.uint64(e - s) * _K2
    i = s
    while i + 8 <= e:
        h = (h ^ load8(data, data8, i, 8)) * _K1
        h ^= h >> np.uint64(32)
        i += 8
    x = load8(data, data8, i, e - i) if i < e else np.uint64(0)
    h = (h ^ x) * _K1
    return np.int64(h ^ (h >> np.uint64(29)))


@nb.njit(cache=True)
def dup_spans(data, data8, ss, es, n, tab) -> tuple[int, int]:
    """(duplicate elements, their code points) among the spans ``ss[:n], es[:n]``; ``tab``:
    a :func:`new_table` for at least n keys."""
    gen = next_gen(tab)
    mask = table_size(n) - 1
    dups = chars = 0
    for t in range(n):
        h = span_hash(data, data8, ss[t], es[t])
        j = slot_of(np.uint64(h), mask)
        while _live(tab, j, gen):
            o = _value(tab, j)
            if tab[j, 1] == h and same_bytes(data, data8, ss[o], es[o], ss[t], es[t]):
                break
            j = (j + 1) & mask
        if _live(tab, j, gen):
            dups += 1
            chars += cp_count(data, ss[t], es[t])
        else:
            _put(tab, j, gen, t, h)
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
def lines_and_paragraphs(data, s, e, a, b, ls, le, ps, pe) -> tuple[int, int, int]:
    """One pass over the document ``[s, e)``: its lines (``re.split("\\n+", text)``, spans
    ``ls/le``), its paragraphs (``re.split("\\n{2,}", text.strip())``, ``[a, b)`` being
    ``text.strip()``, spans ``ps/pe``) and its code points; returns their counts. A run of
    newlines inside the stripped text lies strictly between a and b (it starts and ends
    with other characters), so each run is tested once for both splits."""
    n_l = n_p = n_cp = 0
    line_a, para_a, i = s, a, s
    while i < e:
        c = data[i]
        if c != 10:
            n_cp += (c & 0xC0) != 0x80
            i += 1
            continue
        j = i + 1
        while j < e and data[j] == 10:
            j += 1
        n_cp += j - i
        ls[n_l], le[n_l] = line_a, i
        n_l += 1
        line_a = j
        if j - i >= 2 and a < i and j < b:
            ps[n_p], pe[n_p] = para_a, i
            n_p += 1
            para_a = j
        i = j
    ls[n_l], le[n_l] = line_a, e
    ps[n_p], pe[n_p] = para_a, b
    return n_l + 1, n_p + 1, n_cp


@nb.njit(cache=True)
def _number_words(data, data8, ws, we, a, b, tab, lid, first) -> int:
    """Number the words ``[a, b)`` of a document (``lid``: equal words, equal numbers;
    ``first``: where each number first occurs). Returns the count of numbers."""
    gen = next_gen(tab)
    mask = table_size(b - a) - 1
    n_ids = 0
    for w in range(a, b):
        h = span_hash(data, data8, ws[w], we[w])
        j = slot_of(np.uint64(h), mask)
        while True:
            if not _live(tab, j, gen):
                _put(tab, j, gen, n_ids, h)
                first[n_ids], lid[w - a] = w, n_ids
                n_ids += 1
                break
            sid = _value(tab, j)
            f = first[sid]
            if tab[j, 1] == h and same_bytes(data, data8, ws[f], we[f], ws[w], we[w]):
                lid[w - a] = sid
                break
            j = (j + 1) & mask
    return n_ids


@nb.njit(cache=True)
def _join(data, data8, ws, we, wa, m, J, J8, cb) -> None:
    """The words ``[wa, wa + m)`` joined without spaces into ``J``; ``cb[t]``: where word t
    starts there (``cb[m]``: the end). ""-joined n-grams are then spans of J. Eight bytes per
    store through ``J8`` (:func:`words8` of J, which has eight bytes of slack): most words
    take one (a byte loop per word costs a mispredicted exit); byte by byte where J8 is
    empty (a big-endian machine)."""
    c = 0
    for t in range(m):
        cb[t] = c
        i, e = ws[wa + t], we[wa + t]
        while i < e:
            n = min(8, e - i)
            if c < len(J8):
                J8[c] = load8(data, data8, i, n)
            else:
                for u in range(n):
                    J[c + u] = data[i + u]
            i += n
            c += n
    cb[m] = c


@nb.njit(cache=True, inline="always")
def _same_ids(ids, a, b, n) -> bool:
    for t in range(n):
        if ids[a + t] != ids[b + t]:
            return False
    return True


@nb.njit(cache=True)
def top_ngram(lid, m, n, J, cb, tab, count, group, rep, filtered) -> int:
    """Code points of the most frequent " "-joined n-gram of the words ``lid[:m]`` times its
    count (first seen wins ties); -1 with fewer than n words. With ``filtered``, only the
    positions where ``rep`` is set are counted (those where the (n-1)-gram repeats); the
    others' n-grams are seen once, so the first n-gram wins when no counted one repeats.
    Afterwards ``rep[p]``: the n-gram at p was counted and repeats (``group[p]``: its first
    position, ``count`` per first position). ``J``, ``cb``: the words joined (:func:`_join`)."""
    k = m - n + 1
    if k <= 0:
        return -1
    gen = next_gen(tab)
    mask = table_size(k) - 1
    best, best_pos = 0, 0
    for p in range(k):
        if filtered and not rep[p]:
            group[p] = -1
            continue
        h = np.uint64(n)
        for t in range(n):
            h = (h ^ np.uint64(lid[p + t])) * np.uint64(0x100000001B3)
        hi = np.int64(h)
        j = slot_of(h, mask)
        while _live(tab, j, gen) and not (tab[j, 1] == hi and _same_ids(lid, _value(tab, j), p, n)):
            j = (j + 1) & mask
        if not _live(tab, j, gen):
            _put(tab, j, gen, p, hi)
            count[p] = 0
        q = _value(tab, j)
        group[p] = q
        count[q] += 1
        if count[q] > best or (count[q] == best and q < best_pos):
            best, best_pos = count[q], q
    if best < 2:
        best, best_pos = 1, 0
    for p in range(k):
        rep[p] = group[p] >= 0 and count[group[p]] >= 2
    return (n - 1 + cp_count(J, cb[best_pos], cb[best_pos + n])) * best


KEY_BYTES = 16  # see repeat_candidates: 8% of 20 MB's positions flagged (11% at 12, 13% at 24)


@nb.njit(cache=True)
def repeat_candidates(m, n_min, J, J8, cb, tab, cand, where) -> int:
    """The positions p of a document's ``m`` words where a ""-joined n-gram, n >= ``n_min``,
    could be equal to the one at another position, in order into ``where``; their count.
    ``cand``: a flag per position, for scratch.

    Equal n-grams at p and q are the same joined bytes, at least as long as the n_min-grams
    at p and at q. If either of those is KEY_BYTES or longer, the joined bytes from p and
    from q agree on their first KEY_BYTES; if both are shorter, on their first L bytes, L
    the shortest n_min-gram of the document. So p is flagged where its first KEY_BYTES
    joined bytes (where there are that many) or, for a short n_min-gram, its first L bytes
    hash as another position's do; a shared hash without equal bytes only flags more."""
    k = m - n_min + 1
    if k <= 1:
        return 0
    shortest = KEY_BYTES
    for p in range(k):
        cand[p] = False
        shortest = min(shortest, cb[p + n_min] - cb[p])
    found = _mark_equal_keys(k, n_min, J, J8, cb, KEY_BYTES, False, tab, cand)
    if shortest < KEY_BYTES:
        found |= _mark_equal_keys(k, n_min, J, J8, cb, shortest, True, tab, cand)
    n = 0
    if found:
        for p in range(k):
            if cand[p]:
                where[n] = p
                n += 1
    return n


@nb.njit(cache=True)
def _mark_equal_keys(k, n_min, J, J8, cb, width, short_only, tab, cand) -> bool:
    """Flag (``cand``) the positions p < k whose first ``width`` joined bytes hash as
    another's (with ``short_only``: among the positions whose n_min-gram is shorter than
    KEY_BYTES)."""
    gen = next_gen(tab)
    mask, shift = table_size(k) - 1, table_shift(k)
    end = cb[k + n_min - 1]  # the joined bytes' end
    found = False
    for p in range(k):
        s = cb[p]
        if s + width > end or (short_only and cb[p + n_min] - s >= KEY_BYTES):
            continue
        key = span_hash(J, J8, s, s + width)
        j = np.int64(np.uint64(key) >> shift)
        while _live(tab, j, gen) and tab[j, 1] != key:
            j = (j + 1) & mask
        if _live(tab, j, gen):
            cand[p] = cand[_value(tab, j)] = found = True
        else:
            _put(tab, j, gen, p, key)
    return found


@nb.njit(cache=True)
def dup_ngram(J, J8, cb, m, n, where, n_where, tab) -> int:
    """Code points in repeated ""-joined n-grams (spans of the joined words, see
    :func:`_join`), skipping n words past each repeat (datatrove's ``find_all_duplicate``);
    equal hashes are confirmed byte for byte. Only the positions ``where[:n_where]``
    (:func:`repeat_candidates`) can repeat: the others would be seen once, and datatrove
    steps over such an n-gram to the next position, so they are not visited."""
    k = m - n + 1
    if k <= 0:
        return 0
    gen = next_gen(tab)
    mask, shift = table_size(k) - 1, table_shift(k)
    total, after_skip = 0, 0
    for i in range(n_where):
        p = where[i]
        if p >= k:
            break
        if p < after_skip:
            continue
        s, e = cb[p], cb[p + n]
        h = span_hash(J, J8, s, e)
        j = np.int64(np.uint64(h) >> shift)
        while _live(tab, j, gen):
            q = _value(tab, j)
            if tab[j, 1] == h and same_bytes(J, J8, cb[q], cb[q + n], s, e):
                break
            j = (j + 1) & mask
        if _live(tab, j, gen):
            total += cp_count(J, s, e)
            after_skip = p + n
        else:
            _put(tab, j, gen, p, h)
    return total


@nb.njit(cache=True)
def _largest(data, offsets, ok, doc_off) -> tuple[int, int, int]:
    """(most words, most newlines + 1, most bytes) of a document the kernel handles."""
    words, pieces, size = 1, 1, 1
    for d in range(len(offsets) - 1):
        if ok[d]:
            words = max(words, doc_off[d + 1] - doc_off[d])
            size = max(size, offsets[d + 1] - offsets[d])
            nl = 1
            for i in range(offsets[d], offsets[d + 1]):
                nl += data[i] == 10
            pieces = max(pieces, nl)
    return words, pieces, size


def repetition_batch(data, data8, offsets, ok, doc_off, ws, we, table, top_ns, dup_ns):
    """Per document: [chars, paragraphs, dup paragraphs, their chars, lines, dup lines, their
    chars], top n-gram chars per ``top_ns`` (-1: fewer words), repeated n-gram chars per
    ``dup_ns``."""
    n_docs = len(offsets) - 1
    stats = np.zeros((n_docs, 7), np.int64)
    top = np.full((n_docs, len(top_ns)), -1, np.int64)
    dup = np.zeros((n_docs, len(dup_ns)), np.int64)
    words, pieces, size = _largest(data, offsets, ok, doc_off)
    tab = new_table(max(words, pieces))
    ints = np.empty((7, words + 1), np.int64)  # lid, first, count, group, rep, cb, where
    joined = np.zeros(size + 8, np.uint8)  # a document's words joined (J), 8 bytes of slack
    cand = np.empty(words + 1, np.bool_)
    spans = np.empty((4, pieces), np.int64)  # lines, paragraphs
    n_min = int(dup_ns.min()) if len(dup_ns) else 0
    _rep_docs(data, data8, offsets, ok, doc_off, ws, we, table, top_ns, dup_ns, n_min, stats,
              top, dup, tab, ints, joined, words8(joined), cand, spans)  # fmt: skip
    return stats, top, dup


# No reference counting (it may not allocate): numba would count references to the arrays
# passed at every helper call (see wordkernel.scan_batch).
@nb.njit(cache=True, _nrt=False)
def _rep_docs(data, data8, offsets, ok, doc_off, ws, we, table, top_ns, dup_ns, n_min, stats,
              top, dup, tab, ints, J, J8, cand, spans) -> None:  # fmt: skip
    lid, first, count, group, rep, cb, where = (
        ints[0], ints[1], ints[2], ints[3], ints[4], ints[5], ints[6]
    )  # fmt: skip
    ls, le, ps, pe = spans[0], spans[1], spans[2], spans[3]
    for d in range(len(offsets) - 1):
        s, e = offsets[d], offsets[d + 1]
        if not ok[d] or s == e:
            continue
        a, b = strip_span(data, s, e, table)
        n_lines, n_paras, stats[d, 0] = lines_and_paragraphs(data, s, e, a, b, ls, le, ps, pe)
        stats[d, 1] = n_paras
        stats[d, 2], stats[d, 3] = dup_spans(data, data8, ps, pe, n_paras, tab)
        stats[d, 4] = n_lines
        stats[d, 5], stats[d, 6] = dup_spans(data, data8, ls, le, n_lines, tab)
        wa, wb = doc_off[d], doc_off[d + 1]
        m = wb - wa
        _number_words(data, data8, ws, we, wa, wb, tab, lid, first)
        _join(data, data8, ws, we, wa, m, J, J8, cb)
        for t in range(len(top_ns)):
            filtered = t > 0 and top_ns[t] == top_ns[t - 1] + 1 and top[d, t - 1] >= 0
            top[d, t] = top_ngram(lid, m, top_ns[t], J, cb, tab, count, group, rep, filtered)
        n_where = repeat_candidates(m, n_min, J, J8, cb, tab, cand, where) if len(dup_ns) else 0
        for t in range(len(dup_ns) if n_where else 0):
            dup[d, t] = dup_ngram(J, J8, cb, m, dup_ns[t], where, n_where, tab)

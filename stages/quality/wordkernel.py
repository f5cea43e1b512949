"""Compiled word splitting of a whole Arrow batch: datatrove's (spaCy's) words as byte spans.

spaCy tokenizes every whitespace-separated chunk on its own (see :mod:`.words`), so one pass
over a batch's UTF-8 buffer can cut it into chunks and give each chunk its tokens:

- a chunk of ``CORE`` letters (no special case) is one token; with one ``SUF`` character
  after them ("word,"), two. These two shapes are most chunks and take a short path;
- any other chunk goes through :func:`grammar_tokens`, spaCy's affix loop for the shapes
  whose behaviour the probed character classes (:mod:`.charclass`) fix: one-character
  prefixes and suffixes, "."s and runs of "."s split off the end, a final "'s", around a
  core that is a word (letters, apostrophes inside, hyphen and dash infixes, a hyphen at
  either end), a number (digits with "." "," ":" "/" inside, "-" infixes, a leading minus)
  or letters and digits mixed. A chunk where any string that loop looks up is a special
  case, or where two neighbouring tokens could start spaCy's special-case phrase matcher,
  is left to the memo;
- the rest are looked up in a memo of spaCy's own tokenizations (filled from Python for the
  chunks a batch misses, exact: keys are compared byte for byte).

Across chunks: where two chunks are joined by one plain space and their facing tokens could
be consecutive tokens of a special-case pattern, the document is flagged ``CHECK`` (its words
are kept; :mod:`.batchwords` looks for a whole pattern across the chunks), and where a chunk
spaCy's matcher changed has such a neighbour, ``WHOLE_DOC`` (the reasoning is in
:mod:`.words`). Characters not classified yet are reported so that the caller can learn them
and scan those documents again. Chunks missing from the memo are reported with where their
tokens go and how they join their neighbours: once the caller has learnt them,
:func:`fill_gaps` puts their tokens in place and makes the checks across chunks that waited
for them, so a document is not scanned a second time for a chunk the memo lacked.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from corpusforge.stages.quality.charclass import (
    APOS,
    APOS_S,
    CORE,
    DASH,
    DIGIT,
    DIGIT_HYPHEN,
    DIGIT_OK,
    DIGIT_SUF,
    DOTSPLIT,
    EDGE_HYPHEN,
    HYPHEN_JOIN,
    HYPHEN_NO,
    HYPHEN_OK,
    INFIX,
    KNOWN,
    NUM_HYPHEN,
    NUM_LEAD,
    NUMSEP,
    PRE,
    SPACE,
    SUF,
    UNIT_FREE,
    UPPER,
)

OK, UNKNOWN_CHAR, MISSING_CHUNK, WHOLE_DOC, CHECK, REDO = 0, 1, 2, 3, 4, 5
# A row of ``gaps`` per chunk missing from the memo: its document, the word index its tokens
# go to, its span, and how it joins its neighbours (the checks across chunks wait for its
# tokens): JOIN_KNOWN with the previous chunk's last (next chunk's first) token hash and the
# next chunk's start, JOIN_GAP where that neighbour is missing too.
# ``G_RUN``: the row of ``runs`` of its run of joined chunks (candidates from R_LO to R_HI;
# R_CHANGED: a chunk of it that is not missing was changed by spaCy's matcher).
G_DOC, G_K, G_S, G_E, G_PREV, G_HPREV, G_NEXT, G_HNEXT, G_NEXTS, G_RUN = range(10)
GAP_COLS = 10
JOIN_NONE, JOIN_KNOWN, JOIN_GAP = 0, 1, 2
R_DOC, R_LO, R_HI, R_CHANGED = range(4)
RUN_COLS = 4
MEMO_CHANGED, MEMO_WHOLE = 1, 2  # memo entry flags: the matcher changed it; spaCy sees all
_FNV0 = np.uint64(0xCBF29CE484222325)
_FNV1 = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)
MAX_AFFIX = 8  # more one-character affixes than this: not plain
_ALL = np.uint32(0xFFFFFFFF)


@nb.njit(cache=True)
def decode(data: np.ndarray, i: int) -> tuple[int, int]:
    """(code point, byte length) of the UTF-8 character at ``i``."""
    b = np.int64(data[i])
    if b < 0x80:
        return b, 1
    if b < 0xE0:
        return ((b & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F), 2
    if b < 0xF0:
        return (
            ((b & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (data[i + 2] & 0x3F)
        ), 3
    return (
        ((b & 0x07) << 18)
        | ((np.int64(data[i + 1]) & 0x3F) << 12)
        | ((np.int64(data[i + 2]) & 0x3F) << 6)
        | (data[i + 3] & 0x3F)
    ), 4


@nb.njit(cache=True)
def char_before(data: np.ndarray, j: int) -> int:
    """Start of the UTF-8 character that ends at ``j``."""
    b = j - 1
    while data[b] & 0xC0 == 0x80:
        b -= 1
    return b


@nb.njit(cache=True)
def hash_bytes(data: np.ndarray, s: int, e: int) -> np.uint64:
    h = _FNV0
    for i in range(s, e):
        h = (h ^ np.uint64(data[i])) * _FNV1
    return h


@nb.njit(cache=True)
def slot_of(h: np.uint64, mask: int) -> int:
    """Table slot of hash ``h``: FNV and polynomial hashes mix poorly into their low bits,
    so the high bits are folded in first."""
    h = (h ^ (h >> np.uint64(31))) * _MIX
    return np.int64((h ^ (h >> np.uint64(29))) & np.uint64(mask))


@nb.njit(cache=True)
def pair_hash(a: np.uint64, b: np.uint64) -> np.uint64:
    return (a * _MIX) ^ b


@nb.njit(cache=True)
def in_sorted(arr: np.ndarray, h: np.uint64) -> bool:
    lo, hi = 0, len(arr)
    while lo < hi:  # plain binary search: numba's np.searchsorted is slow on scalars
        mid = (lo + hi) >> 1
        if arr[mid] < h:
            lo = mid + 1
        else:
            hi = mid
    return lo < len(arr) and arr[lo] == h


@nb.njit(cache=True)
def bloom(hashes: np.ndarray, bits: int) -> np.ndarray:
    """A one-probe Bloom filter of ``hashes`` (2**bits bits): most lookups of a hash that is
    not there stop at one bit instead of a binary search."""
    out = np.zeros(max((1 << bits) >> 6, 1), np.uint64)
    mask = len(out) * 64 - 1
    for h in hashes:
        j = slot_of(h, mask)
        out[j >> 6] |= np.uint64(1) << np.uint64(j & 63)
    return out


@nb.njit(cache=True)
def in_set(bits: np.ndarray, arr: np.ndarray, h: np.uint64) -> bool:
    """``h`` in the sorted ``arr`` (``bits``: its :func:`bloom`)."""
    j = slot_of(h, len(bits) * 64 - 1)
    if not (bits[j >> 6] >> np.uint64(j & 63)) & np.uint64(1):
        return False
    return in_sorted(arr, h)


# ------------------------------------------------------------------------ the affix grammar


@nb.njit(cache=True)
def _flags_at(data, i, table) -> np.uint32:
    cp, _ = decode(data, i)
    return table[cp]


@nb.njit(cache=True, inline="always")
def _dot_splits(data, lo, b, table) -> bool:
    """Whether spaCy's suffix rules split the "." at ``b`` off (the string starts at
    ``lo``): the character before it allows it (``DOTSPLIT``), or two capitals do."""
    if b <= lo:
        return False
    p = char_before(data, b)
    fp = _flags_at(data, p, table)
    if fp & DOTSPLIT:
        return True
    if not fp & UPPER or p <= lo:
        return False
    return _flags_at(data, char_before(data, p), table) & UPPER != 0


@nb.njit(cache=True, inline="always")
def _suffix_ends(data, i, e, table, ends) -> int:
    """spaCy's suffixes of ``data[i:e]`` from the end: one-character suffixes, a "." split
    off, a run of "."s (one suffix), a final "'s". ``ends`` gets e, then the start of each
    suffix (so the core ends at the last one); their count, or -1 when they are too many."""
    ends[0] = e
    n, j = 1, e
    while j > i:
        if n > MAX_AFFIX:
            return -1
        b = char_before(data, j)
        cp, _ = decode(data, b)
        f = table[cp]
        if f & SUF or (f & DIGIT_SUF and b > i and 48 <= data[b - 1] <= 57):
            j = b
        elif cp == 46:
            r = b
            while r > i and data[r - 1] == 46:
                r -= 1
            if r < b:
                j = r  # "\.\.+" is one suffix
            elif _dot_splits(data, i, b, table):
                j = b
            else:
                break
        elif (cp == 115 or cp == 83) and b > i:  # "s", "S" after an apostrophe: "'s"
            a = char_before(data, b)
            if a > i and _flags_at(data, a, table) & APOS_S:
                j = a
            else:
                break
        else:
            break
        ends[n] = j
        n += 1
    return n


@nb.njit(cache=True, inline="always")
def _dash_run(data, p, j, table, arena, off) -> int:
    """End of the dash infix starting at ``p`` (its characters exactly one of the dash
    infixes: bytes ``arena``, ``off``sets), or -1."""
    r = p
    while r < j and _flags_at(data, r, table) & DASH:
        _, n = decode(data, r)
        r += n
    for t in range(len(off) - 1):
        a, b = off[t], off[t + 1]
        if b - a != r - p:
            continue
        same = True
        for u in range(b - a):
            if data[p + u] != arena[a + u]:
                same = False
                break
        if same:
            return r
    return -1


@nb.njit(cache=True)
def _emit(out_s, out_e, k, s, e) -> int:
    out_s[k], out_e[k] = s, e
    return k + 1


@nb.njit(cache=True)
def _class(f) -> int:
    """1: a CORE character ("letter"), 2: an ASCII digit, 0: anything else."""
    return 1 if f & CORE else (2 if f & DIGIT else 0)


@nb.njit(cache=True, inline="always")
def _no_unit(data, a, j, table, units2, width) -> bool:
    """Whether spaCy's suffix rules leave on ``data[a:j]``, what follows the last digit of a
    core: its rules after a digit ("10km", "5G", "150km/h") match all of it or nothing, and
    none is longer than ``width`` characters. One letter is none when UNIT_FREE; two ASCII
    letters are looked up in ``units2`` (probed: 1 where "1" + the two has no suffix); any
    other tail of ``width`` characters or fewer might be one."""
    n, i = 0, a
    while i < j and n <= width:
        _, m = decode(data, i)
        n += 1
        i += m
    if n == 0 or n > width:
        return True
    if n == 1:
        return _flags_at(data, a, table) & CORE != 0 and _flags_at(data, a, table) & UNIT_FREE != 0
    if n > 2 or data[a] >= 0x80 or data[a + 1] >= 0x80:
        return False
    return units2[(np.int64(data[a]) << 7) | data[a + 1]] != 0


@nb.njit(cache=True, inline="always")
def _core_tokens(data, i, j, table, dash_arena, dash_off, units2, width, out_s, out_e,
                 k) -> int:  # fmt: skip
    """Tokens of the core ``[i, j)`` left between the affixes, at ``out[k:]``; the new k,
    or -1 for a shape not covered here. The core is runs of CORE characters and ASCII
    digits joined by: an apostrophe between two letters, a NUMSEP character between two
    digits (inside one token), a "-" (an infix between two digits, between a digit or a
    letter and a letter, all HYPHEN_OK; inside the token between a letter and a digit), a
    dash infix between two letters; a single "-" may start or end it, and a final "." is
    one :func:`_suffix_ends` left on. Letters and digits in one run need DIGIT_OK letters,
    and what follows the last digit must be no unit (:func:`_no_unit`). A core with a split
    and a NUMSEP character is left out: spaCy's URL pattern would keep some of those whole."""
    hy = table[45]
    p, tok, prev, prev_f, after_digit = i, i, 0, np.uint32(0), i
    digits, all_ok, split, sep = False, True, False, False
    if data[p] == 45:  # a leading "-"
        c = _class(_flags_at(data, p + 1, table)) if p + 1 < j else 0
        if not ((c == 1 and hy & EDGE_HYPHEN) or (c == 2 and hy & NUM_LEAD)):
            return -1
        p += 1
    while p < j:
        cp, n = decode(data, p)
        f = table[cp]
        c = _class(f)
        if c == 1:
            if not f & DIGIT_OK:
                if digits:
                    return -1
                all_ok = False
            prev, prev_f = 1, f
            p += n
            continue
        if c == 2:
            if not all_ok:
                return -1
            digits, prev, after_digit = True, 2, p + n
            p += n
            continue
        if prev == 0:
            return -1
        if cp == 46 and p + 1 == j:
            p += 1
            continue
        if cp == 45 and p + 1 == j:
            if not hy & EDGE_HYPHEN:
                return -1
            p += 1
            continue
        single = p + n
        if cp == 45:
            run = single < j and data[single] == 45
            r = _dash_run(data, p, j, table, dash_arena, dash_off) if run else single
        elif f & DASH and not (prev == 2 and f & NUMSEP):
            r = _dash_run(data, p, j, table, dash_arena, dash_off)
        else:
            r = single
        if r < 0 or r >= j:
            return -1
        fn = _flags_at(data, r, table)
        nxt = _class(fn)
        if r == single and prev == 2 and nxt == 2 and f & NUMSEP:  # "3.5", "3\u201327"
            sep = True
            p = r
            continue
        if r == single and prev == 1 and nxt == 1 and f & APOS:  # "iba't"
            p = r
            continue
        if r == single and cp == 45 and prev == 1 and nxt == 2 and hy & HYPHEN_JOIN:
            digits, all_ok, prev = False, True, 0  # "HR-48350": one token
            p = r
            continue
        if r == single and cp == 45 and prev == 1 and nxt == 1 and (prev_f | fn) & HYPHEN_NO:
            digits, all_ok, prev = False, True, 0  # "қ-қ": one token
            p = r
            continue
        if r == single and cp == 45 and prev == 2 and nxt == 2:
            infix = hy & NUM_HYPHEN != 0  # "2-5"
        elif (cp == 45 or f & DASH or f & INFIX) and nxt == 1 and fn & HYPHEN_OK:
            if prev == 1:
                infix = prev_f & HYPHEN_OK != 0
            else:
                infix = cp == 45 and r == single and hy & DIGIT_HYPHEN != 0  # "90-luvun"
            infix = infix and (r == single or f & DASH != 0)  # dash runs: checked by _dash_run
        else:
            infix = False
        if not infix:
            return -1
        k = _emit(out_s, out_e, _emit(out_s, out_e, k, tok, p), p, r)  # an infix
        p, tok, prev, split = r, r, 0, True
        digits, all_ok = False, True
    if split and sep:
        return -1
    if after_digit > i and not _no_unit(data, after_digit, j, table, units2, width):
        return -1
    return _emit(out_s, out_e, k, tok, j)


@nb.njit(cache=True, inline="always")
def _no_phrase(data, out_s, out_e, a, b, pairs, pair_bits) -> bool:
    """No two neighbouring tokens of ``[a, b)`` could start spaCy's special-case phrase
    matcher (it would merge them, e.g. ")" ":" into "):")."""
    if b - a < 2:
        return True
    h = hash_bytes(data, out_s[a], out_e[a])
    for t in range(a + 1, b):
        h2 = hash_bytes(data, out_s[t], out_e[t])
        if in_set(pair_bits, pairs, pair_hash(h, h2)):
            return False
        h = h2
    return True


@nb.njit(cache=True, inline="always")
def grammar_tokens(data, s, e, table, specials, special_bits, pairs, pair_bits, dash_arena,
                   dash_off, units2, width, out_s, out_e, k, starts, ends) -> int:  # fmt: skip
    """Tokens of the chunk ``[s, e)`` written at ``out[k:]`` as spaCy's affix loop cuts
    them; the new ``k``, or -1 when the chunk has another shape (the memo decides)."""
    starts[0] = s
    n_starts, i = 1, s
    while i < e:
        cp, n = decode(data, i)
        if not table[cp] & PRE:
            break
        if n_starts > MAX_AFFIX:
            return -1
        i += n
        starts[n_starts] = i
        n_starts += 1
    if i >= e:
        return -1
    n_ends = _suffix_ends(data, i, e, table, ends)
    if n_ends < 0 or ends[n_ends - 1] <= i:
        return -1
    j = ends[n_ends - 1]
    for a in range(n_starts):  # every string the affix loop may look up as a special case
        for b in range(n_ends):
            if starts[a] < ends[b]:
                if in_set(special_bits, specials, hash_bytes(data, starts[a], ends[b])):
                    return -1
    k0 = k
    for t in range(n_starts - 1):
        k = _emit(out_s, out_e, k, starts[t], starts[t + 1])
    k2 = _core_tokens(data, i, j, table, dash_arena, dash_off, units2, width, out_s, out_e, k)
    if k2 < 0:
        return -1
    for t in range(n_ends - 1, 0, -1):
        k2 = _emit(out_s, out_e, k2, ends[t], ends[t - 1])
    return k2 if _no_phrase(data, out_s, out_e, k0, k2, pairs, pair_bits) else -1


# ------------------------------------------------------------------------------ the memo


@nb.njit(cache=True, inline="always")
def memo_find(data, s, e, h, mk_hash, mk_start, mk_len, m_arena) -> int:
    """Slot of chunk ``data[s:e]`` (hash ``h``) in the memo table, or -1."""
    mask = len(mk_hash) - 1
    j = slot_of(h, mask)
    n = e - s
    while mk_start[j] >= 0:
        if mk_hash[j] == h and mk_len[j] == n:
            a = mk_start[j]
            same = True
            for t in range(n):
                if m_arena[a + t] != data[s + t]:
                    same = False
                    break
            if same:
                return j
        j = (j + 1) & mask
    return -1


@nb.njit(cache=True)
def memo_insert_many(keys, key_off, toks, tok_off, flags, edges, memo, used) -> int:
    """Add chunks ``keys[key_off[c]:key_off[c + 1]]`` with token byte lengths
    ``toks[tok_off[c]:tok_off[c + 1]]``, ``flags[c]`` and ``edges[c]``: the byte lengths
    of the first and last of its tokens before spaCy's special-case matcher (their hashes
    are kept for the checks across chunks). ``used`` = (arena bytes, token slots, entries)
    in use, updated. Stops where the memo is full; returns the count added (the caller
    grows or resets the memo and adds the rest)."""
    mk_hash, mk_start, mk_len, mt_start, mt_n, m_flag, m_arena, m_toks, m_first, m_last = memo
    mask = len(mk_hash) - 1
    for c in range(len(key_off) - 1):
        s, e = key_off[c], key_off[c + 1]
        n_tok = tok_off[c + 1] - tok_off[c]
        a, t = used[0], used[1]
        full = 5 * (used[2] + 1) > 3 * len(mk_hash)  # entries kept under 60% of the slots
        if full or a + e - s > len(m_arena) or t + n_tok > len(m_toks):
            return c
        h = hash_bytes(keys, s, e)
        if memo_find(keys, s, e, h, mk_hash, mk_start, mk_len, m_arena) >= 0:
            continue
        j = slot_of(h, mask)
        while mk_start[j] >= 0:
            j = (j + 1) & mask
        m_arena[a : a + e - s] = keys[s:e]
        m_toks[t : t + n_tok] = toks[tok_off[c] : tok_off[c + 1]]
        mk_hash[j], mk_start[j], mk_len[j] = h, a, e - s
        mt_start[j], mt_n[j], m_flag[j] = t, n_tok, flags[c]
        m_first[j] = hash_bytes(keys, s, s + edges[c, 0])
        m_last[j] = hash_bytes(keys, e - edges[c, 1], e)
        used[0], used[1], used[2] = a + e - s, t + n_tok, used[2] + 1
    return len(key_off) - 1


@nb.njit(cache=True, inline="always")
def _memo_tokens(data, cs, ce, h, mk_hash, mk_start, mk_len, mt_start, mt_n, m_flag, m_arena,
                 m_toks, m_first, m_last, out_s, out_e, k):  # fmt: skip
    """Tokens of chunk ``[cs, ce)`` from the memo: (new k or -1 when it is not there, the
    entry's flags, hashes of its first and last token before the matcher)."""
    j = memo_find(data, cs, ce, h, mk_hash, mk_start, mk_len, m_arena)
    if j < 0:
        return -1, 0, h, h
    a = cs
    for t in range(mt_start[j], mt_start[j] + mt_n[j]):
        out_s[k], out_e[k] = a, a + m_toks[t]
        a += m_toks[t]
        k += 1
    return k, np.int64(m_flag[j]), m_first[j], m_last[j]


# ------------------------------------------------------------------------------ the scan


@nb.njit(cache=True, inline="always")
def _end_run(runs, run_row, run_cand, n_cand, run_changed) -> int:
    """The candidate count after a run of joined chunks ends: its candidates stay only if
    spaCy's matcher changed one of its chunks (see words.ChunkWords.crossing); a run with a
    missing chunk keeps them, recorded in ``runs`` for :func:`fill_gaps` to decide."""
    if run_row >= 0:
        runs[run_row, R_HI], runs[run_row, R_CHANGED] = n_cand, run_changed
        return n_cand
    return n_cand if run_changed else run_cand


# No reference counting (``_nrt=False``: the function may not allocate): numba counts
# references to arrays for every inlined helper call, which cost four times the grammar path
# and as much as the whole common path. The larger helpers are inlined by numba (a call
# passes every array field by field); the small ones are left to LLVM, which inlines them
# too but compiles in a quarter of the time (about 10 CPU-s, once per machine: cache=True).
@nb.njit(cache=True, _nrt=False)
def scan_batch(data, offsets, todo, table, sets, dash, units2, width, memo, out_s, out_e,
               doc_off, status, gaps, runs, cands, starts,
               ends) -> tuple[int, int, int]:  # fmt: skip
    """Words of every document as byte spans ``out_s/out_e``, ``doc_off`` per document;
    ``status`` per document (OK, CHECK, or why not). ``sets``: (specials, their bloom,
    phrase pairs, their bloom); ``dash``: the dash infixes; ``units2``, ``width``: see
    :func:`_no_unit`. Returns the counts of chunks missing from the memo (rows of ``gaps``:
    a MISSING_CHUNK document keeps its other words and candidates, :func:`fill_gaps` adds
    the missing ones once learnt; REDO where more than fit), of the boundaries to check
    (rows of document, start of the chunk after the space, in ``cands``; a document with
    more than fit is WHOLE_DOC) and of the runs holding a missing chunk (``runs``, at least
    as many rows as ``gaps``). ``starts``, ``ends``: scratch for :func:`grammar_tokens`
    (MAX_AFFIX + 3 each)."""
    specials, special_bits, pairs, pair_bits = sets
    dash_arena, dash_off = dash
    mk_hash, mk_start, mk_len, mt_start, mt_n, m_flag, m_arena, m_toks, m_first, m_last = memo
    k = n_gap = n_cand = n_run = 0
    for d in range(len(offsets) - 1):
        doc_off[d] = k_doc = k
        if not todo[d]:
            continue
        st, cand_doc, run_cand, run_changed = OK, n_cand, n_cand, False
        i, e0, prev_end, h_prev = offsets[d], offsets[d + 1], np.int64(-2), np.uint64(0)
        last_gap = run_row = -1  # gaps row of the previous chunk if missing; runs row
        while i < e0:
            cp = np.int64(data[i])
            n = 1
            if cp >= 0x80:
                cp, n = decode(data, i)
            if table[cp] & SPACE:
                i += n
                continue
            cs = i
            h, h_rest, shared, f_rest, ls, f_last = _FNV0, _FNV0, _ALL, _ALL, i, np.uint32(0)
            while i < e0:  # the chunk: its hash, the flags all its characters share, ...
                cp = np.int64(data[i])
                n = 1
                if cp >= 0x80:
                    cp, n = decode(data, i)
                f = table[cp]
                if f & SPACE:
                    break
                h_rest, f_rest, ls, f_last = h, shared, i, f  # ... and those but its last
                shared &= f
                for t in range(i, i + n):
                    h = (h ^ np.uint64(data[t])) * _FNV1
                i += n
            if st == WHOLE_DOC or st == UNKNOWN_CHAR or st == REDO:
                continue
            if not shared & KNOWN:
                st = UNKNOWN_CHAR
                continue
            k2, h_first, h_last, changed = -1, h, h, False
            if shared & CORE:  # one word
                if not in_set(special_bits, specials, h):
                    out_s[k], out_e[k] = cs, i
                    k2 = k + 1
            elif ls > cs and f_rest & CORE and f_last & SUF:  # a word and one suffix: "word,"
                h_suf = hash_bytes(data, ls, i)
                if not (
                    in_set(special_bits, specials, h_rest)
                    or in_set(special_bits, specials, h)
                    or in_set(pair_bits, pairs, pair_hash(h_rest, h_suf))
                ):
                    out_s[k], out_e[k], out_s[k + 1], out_e[k + 1] = cs, ls, ls, i
                    k2, h_first, h_last = k + 2, h_rest, h_suf
            if k2 < 0:
                k2 = grammar_tokens(data, cs, i, table, specials, special_bits, pairs, pair_bits,
                                    dash_arena, dash_off, units2, width, out_s, out_e, k,
                                    starts, ends)  # fmt: skip
                if k2 >= 0:
                    h_first = hash_bytes(data, out_s[k], out_e[k])
                    h_last = hash_bytes(data, out_s[k2 - 1], out_e[k2 - 1])
                else:  # edge hashes from the memo: tokens before spaCy's matcher
                    k2, flag, h_first, h_last = _memo_tokens(
                        data, cs, i, h, mk_hash, mk_start, mk_len, mt_start, mt_n, m_flag,
                        m_arena, m_toks, m_first, m_last, out_s, out_e, k,
                    )  # fmt: skip
                    if k2 < 0:
                        if n_gap == len(gaps):
                            st = REDO
                            continue
                        joined = cs == prev_end + 1 and data[prev_end] == 32
                        gaps[n_gap, G_DOC], gaps[n_gap, G_K] = d, k
                        gaps[n_gap, G_S], gaps[n_gap, G_E] = cs, i
                        gaps[n_gap, G_PREV], gaps[n_gap, G_NEXT] = JOIN_NONE, JOIN_NONE
                        gaps[n_gap, G_HPREV] = np.int64(h_prev)
                        if joined:
                            gaps[n_gap, G_PREV] = JOIN_GAP if last_gap >= 0 else JOIN_KNOWN
                            if last_gap >= 0:
                                gaps[last_gap, G_NEXT] = JOIN_GAP
                        else:
                            n_cand = _end_run(runs, run_row, run_cand, n_cand, run_changed)
                            run_cand, run_changed, run_row = n_cand, False, -1
                        if run_row < 0:  # fill_gaps decides whether its candidates stay
                            run_row = n_run
                            runs[n_run, R_DOC], runs[n_run, R_LO] = d, run_cand
                            n_run += 1
                        gaps[n_gap, G_RUN] = run_row
                        st, last_gap, prev_end = MISSING_CHUNK, n_gap, i
                        n_gap += 1
                        continue
                    if flag == MEMO_WHOLE:
                        st = WHOLE_DOC
                        continue
                    changed = flag == MEMO_CHANGED
            if cs == prev_end + 1 and data[prev_end] == 32:  # joined by one plain space
                if last_gap >= 0:  # to a missing chunk: fill_gaps checks the pair
                    gaps[last_gap, G_NEXT], gaps[last_gap, G_NEXTS] = JOIN_KNOWN, cs
                    gaps[last_gap, G_HNEXT] = np.int64(h_first)
                elif in_set(pair_bits, pairs, pair_hash(h_prev, h_first)):
                    if n_cand < len(cands):
                        cands[n_cand, 0], cands[n_cand, 1] = d, cs
                        n_cand += 1
                    else:
                        st = WHOLE_DOC
            else:  # a new run of joined chunks: a pattern across the last one could only
                # matter if it held a chunk the matcher changed (see words.ChunkWords.crossing)
                n_cand = _end_run(runs, run_row, run_cand, n_cand, run_changed)
                run_cand, run_changed, run_row = n_cand, False, -1
            run_changed = run_changed or changed
            prev_end, h_prev, k, last_gap = i, h_last, k2, -1
        n_cand = _end_run(runs, run_row, run_cand, n_cand, run_changed)
        if st == OK and n_cand > cand_doc:
            st = CHECK
        if st != CHECK and st != MISSING_CHUNK:
            n_cand = cand_doc  # keep the candidates of the documents with words only
        if st != OK and st != CHECK and st != MISSING_CHUNK:
            k = k_doc
        status[d] = st
    doc_off[len(offsets) - 1] = k
    return n_gap, n_cand, n_run


PENDING = np.uint32(1 << 31)  # a code point already reported as unknown in this pass


@nb.njit(cache=True)
def unknown_chars(data, table, unknown) -> int:
    """Code points of ``data`` not classified yet (each once, up to ``len(unknown)``)."""
    n_unk, i = 0, 0
    while i < len(data):
        if data[i] < 0x80 and table[data[i]] & KNOWN:
            i += 1
            continue
        cp, n = decode(data, i)
        f = table[cp]
        if f & KNOWN == 0 and not f & PENDING and n_unk < len(unknown):
            table[cp] = f | PENDING
            unknown[n_unk] = cp
            n_unk += 1
        i += n
    return n_unk


@nb.njit(cache=True)
def merge_rounds(redo, off1, s1, e1, st1, off2, s2, e2, st2):
    """Words per document from round 1, or from round 2 where ``redo``."""
    n_docs = len(redo)
    off = np.zeros(n_docs + 1, np.int64)
    for d in range(n_docs):
        a, b = (off2[d], off2[d + 1]) if redo[d] else (off1[d], off1[d + 1])
        off[d + 1] = off[d] + b - a
    ws = np.empty(off[n_docs], np.int64)
    we = np.empty(off[n_docs], np.int64)
    status = np.empty(n_docs, np.int64)
    for d in range(n_docs):
        src_s, src_e, a = (s2, e2, off2[d]) if redo[d] else (s1, e1, off1[d])
        status[d] = st2[d] if redo[d] else st1[d]
        n = off[d + 1] - off[d]
        ws[off[d] : off[d + 1]] = src_s[a : a + n]
        we[off[d] : off[d + 1]] = src_e[a : a + n]
    return off, ws, we, status


@nb.njit(cache=True)
def fill_gaps(data, doc_off, ws, we, status, gaps, runs, memo, pairs, pair_bits, cands):
    """The words of a round with the chunks of its MISSING_CHUNK documents that were missing
    from the memo now in place (learnt since), instead of scanning those documents again:
    (doc_off, ws, we, cands). The candidates of a run with a filled chunk stay, and its
    pairs at the filled chunks' boundaries are added, only if the matcher changed one of
    its chunks (as in the scan). A filled document becomes OK, or CHECK with a candidate;
    one with a chunk still missing (the memo started over while learning) stays
    MISSING_CHUNK, one with a chunk spaCy must see whole becomes WHOLE_DOC."""
    mk_hash, mk_start, mk_len, mt_start, mt_n, m_flag, m_arena, m_toks, m_first, m_last = memo
    n_docs, n_gaps = len(doc_off) - 1, len(gaps)
    slot = np.full(n_gaps, -1, np.int64)
    fill = status == MISSING_CHUNK
    extra = np.zeros(n_docs, np.int64)
    changed = runs[:, R_CHANGED] != 0
    for g in range(n_gaps):
        d = gaps[g, G_DOC]
        if not fill[d]:
            continue
        s, e = gaps[g, G_S], gaps[g, G_E]
        j = memo_find(data, s, e, hash_bytes(data, s, e), mk_hash, mk_start, mk_len, m_arena)
        if j < 0 or m_flag[j] == MEMO_WHOLE:
            fill[d] = False
            status[d] = MISSING_CHUNK if j < 0 else WHOLE_DOC
            continue
        slot[g] = j
        extra[d] += mt_n[j]
        changed[gaps[g, G_RUN]] |= m_flag[j] == MEMO_CHANGED
    keep = np.ones(len(cands), np.bool_)
    for r in range(len(runs)):
        if fill[runs[r, R_DOC]] and not changed[r]:
            keep[runs[r, R_LO] : runs[r, R_HI]] = False
    out_c = np.empty((len(cands) + 2 * n_gaps, 2), np.int64)
    n_c = 0
    has_cand = np.zeros(n_docs, np.bool_)
    for c in range(len(cands)):
        if keep[c]:
            out_c[n_c] = cands[c]
            n_c += 1
            has_cand[cands[c, 0]] = True
    for g in range(n_gaps):  # the pairs across the filled chunks' joined boundaries
        d = gaps[g, G_DOC]
        if not fill[d] or not changed[gaps[g, G_RUN]]:
            continue
        j = slot[g]
        h_prev = m_last[slot[g - 1]] if gaps[g, G_PREV] == JOIN_GAP else np.uint64(gaps[g, G_HPREV])
        if gaps[g, G_PREV] != JOIN_NONE and in_set(pair_bits, pairs, pair_hash(h_prev, m_first[j])):
            out_c[n_c, 0], out_c[n_c, 1] = d, gaps[g, G_S]
            n_c += 1
            has_cand[d] = True
        h_next = np.uint64(gaps[g, G_HNEXT])
        if gaps[g, G_NEXT] == JOIN_KNOWN and in_set(pair_bits, pairs, pair_hash(m_last[j], h_next)):
            out_c[n_c, 0], out_c[n_c, 1] = d, gaps[g, G_NEXTS]
            n_c += 1
            has_cand[d] = True
    off = np.zeros(n_docs + 1, np.int64)
    for d in range(n_docs):
        n = doc_off[d + 1] - doc_off[d]
        if status[d] != OK and status[d] != CHECK and not fill[d]:
            n = 0  # its words are not used
        off[d + 1] = off[d] + n + (extra[d] if fill[d] else 0)
    out_s = np.empty(off[n_docs], np.int64)
    out_e = np.empty(off[n_docs], np.int64)
    g = 0
    for d in range(n_docs):
        a, b, o = doc_off[d], doc_off[d + 1], off[d]
        while g < n_gaps and gaps[g, G_DOC] < d:
            g += 1
        if not fill[d]:
            n = off[d + 1] - o
            out_s[o : o + n] = ws[a : a + n]
            out_e[o : o + n] = we[a : a + n]
            continue
        while g < n_gaps and gaps[g, G_DOC] == d:
            n = gaps[g, G_K] - a  # the words before the gap
            out_s[o : o + n] = ws[a : a + n]
            out_e[o : o + n] = we[a : a + n]
            o, a = o + n, a + n
            j, pos = slot[g], gaps[g, G_S]
            for t in range(mt_start[j], mt_start[j] + mt_n[j]):
                out_s[o], out_e[o] = pos, pos + m_toks[t]
                pos += m_toks[t]
                o += 1
            g += 1
        out_s[o : o + b - a] = ws[a:b]
        out_e[o : o + b - a] = we[a:b]
        status[d] = CHECK if has_cand[d] else OK
    return off, out_s, out_e, out_c[:n_c]

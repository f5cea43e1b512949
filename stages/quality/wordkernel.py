"""Compiled word splitting of a whole Arrow batch: datatrove's (spaCy's) words as byte spans.

spaCy tokenizes every whitespace-separated chunk on its own (see :mod:`.words`), so one pass
over a batch's UTF-8 buffer can cut it into chunks and give each chunk its tokens:

- a *plain* chunk -- one-character prefixes (``PRE``), a core that is a run of ``CORE``
  letters and marks (hyphen infixes between them allowed) or of ASCII digits, one-character
  suffixes (``SUF``) and at most one final ``"."`` -- is tokenized here by spaCy's affix loop,
  given the probed character classes (:mod:`.charclass`). A chunk with a special case among
  the strings that loop looks up is not plain;
- any other chunk is looked up in a memo of spaCy's own tokenizations (filled from Python for
  the chunks a batch misses, exact: keys are compared byte for byte).

A document where a special-case phrase could match across two chunks (the condition of
:meth:`.words.ChunkWords.words`) is flagged, as is one holding a character or chunk not known
yet; the caller learns what was missing and scans again, or takes the Python path.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from corpusforge.stages.quality.charclass import (
    CORE,
    DIGIT,
    DOTSPLIT,
    HYPHEN_OK,
    KNOWN,
    PRE,
    SPACE,
    SUF,
    UPPER,
)

OK, UNKNOWN_CHAR, MISSING_CHUNK, WHOLE_DOC = 0, 1, 2, 3
_FNV0 = np.uint64(0xCBF29CE484222325)
_FNV1 = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)
MAX_AFFIX = 8  # more one-character affixes than this: not plain


@nb.njit(cache=True, inline="always")
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


@nb.njit(cache=True, inline="always")
def hash_bytes(data: np.ndarray, s: int, e: int) -> np.uint64:
    h = _FNV0
    for i in range(s, e):
        h = (h ^ np.uint64(data[i])) * _FNV1
    return h


@nb.njit(cache=True, inline="always")
def slot_of(h: np.uint64, mask: int) -> int:
    """Table slot of hash ``h``: FNV and polynomial hashes mix poorly into their low bits,
    so the high bits are folded in first."""
    h = (h ^ (h >> np.uint64(31))) * _MIX
    return np.int64((h ^ (h >> np.uint64(29))) & np.uint64(mask))


@nb.njit(cache=True, inline="always")
def pair_hash(a: np.uint64, b: np.uint64) -> np.uint64:
    return (a * _MIX) ^ b


@nb.njit(cache=True, inline="always")
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


@nb.njit(cache=True, inline="always")
def in_set(bits: np.ndarray, arr: np.ndarray, h: np.uint64) -> bool:
    """``h`` in the sorted ``arr`` (``bits``: its :func:`bloom`)."""
    j = slot_of(h, len(bits) * 64 - 1)
    if not (bits[j >> 6] >> np.uint64(j & 63)) & np.uint64(1):
        return False
    return in_sorted(arr, h)


@nb.njit(cache=True, inline="always")
def _has_special(data, starts, n_starts, ends, n_ends, sets) -> bool:
    for a in range(n_starts):
        for b in range(n_ends):
            if in_set(sets[1], sets[0], hash_bytes(data, starts[a], ends[b])):
                return True
    return False


@nb.njit(cache=True, inline="always")
def _scan_core(data, i, e, table, info) -> int:
    """Past the core at ``i``; ``info`` gets (mode, flags of the last two core characters).
    mode 1: letters, 2: digits, 0: no core; -1: unknown character, -2: not plain."""
    mode, last, prev = 0, 0, 0
    while i < e:
        cp, n = decode(data, i)
        f = table[cp]
        if f & KNOWN == 0:
            return -1
        if f & CORE and mode != 2:
            mode, prev, last = 1, last, f
        elif f & DIGIT and mode != 1:
            mode, prev, last = 2, last, f
        elif cp == 45 and mode == 1 and last & HYPHEN_OK and i + 1 < e:
            cp2, _ = decode(data, i + 1)
            f2 = table[cp2]
            if f2 & KNOWN == 0:
                return -1
            if not (f2 & CORE and f2 & HYPHEN_OK):
                return -2
            prev, last = 0, 0
        else:
            break
        i += n
    info[0], info[1], info[2] = mode, last, prev
    return i


@nb.njit(cache=True, inline="always")
def _affix_ends(data, i, e, table, info, ends) -> int:
    """Fill ``ends`` with the ends of the core and of each suffix; their count, or -1 (not
    plain), -2 (unknown character). A final "." that is not split off joins the core."""
    ends[0] = i
    n_ends, last_suf = 1, 0
    while i < e:
        cp, n = decode(data, i)
        f = table[cp]
        if f & KNOWN == 0:
            return -2
        if f & SUF and n_ends <= MAX_AFFIX:
            last_suf = f
        elif cp == 46 and i + 1 == e:
            if n_ends > 1:
                if not last_suf & DOTSPLIT:
                    return -1
            elif not (info[1] & DOTSPLIT or (info[0] == 1 and info[1] & info[2] & UPPER)):
                ends[0] = e  # "X." stays one token
                return 1
        else:
            return -1
        i += n
        ends[n_ends] = i
        n_ends += 1
    return n_ends


@nb.njit(cache=True, inline="always")
def plain_tokens(data, s, e, table, sets, out_s, out_e, k, info, starts, ends) -> int:
    """Tokens of the chunk ``[s, e)`` written at ``out[k:]``; the new ``k``, or -1 when the
    chunk is not plain, -2 when it holds a character not classified yet."""
    starts[0] = s
    n_starts = 1
    i = s
    while i < e:
        cp, n = decode(data, i)
        f = table[cp]
        if f & KNOWN == 0:
            return -2
        if not f & PRE:
            break
        if n_starts > MAX_AFFIX:
            return -1
        i += n
        starts[n_starts] = i
        n_starts += 1
    j = _scan_core(data, i, e, table, info)
    if j == -1:
        return -2
    if j == -2 or info[0] == 0:
        return -1
    n_ends = _affix_ends(data, j, e, table, info, ends)
    if n_ends < 0:
        return -1 if n_ends == -1 else -2
    if _has_special(data, starts, n_starts, ends, n_ends, sets):
        return -1
    k0 = k
    for t in range(n_starts - 1):
        out_s[k], out_e[k] = starts[t], starts[t + 1]
        k += 1
    a = i
    for b in range(i, ends[0]):
        if data[b] == 45 and info[0] == 1:  # a hyphen infix inside a letters core
            out_s[k], out_e[k], out_s[k + 1], out_e[k + 1] = a, b, b, b + 1
            k += 2
            a = b + 1
    out_s[k], out_e[k] = a, ends[0]
    k += 1
    for t in range(n_ends - 1):
        out_s[k], out_e[k] = ends[t], ends[t + 1]
        k += 1
    return k if _no_phrase(data, out_s, out_e, k0, k, sets) else -1


@nb.njit(cache=True, inline="always")
def _no_phrase(data, out_s, out_e, a, b, sets) -> bool:
    """No two neighbouring tokens of ``[a, b)`` could start spaCy's special-case phrase
    matcher (it would merge them, e.g. ")" ":" into "):")."""
    if b - a < 2:
        return True
    h = hash_bytes(data, out_s[a], out_e[a])
    for t in range(a + 1, b):
        h2 = hash_bytes(data, out_s[t], out_e[t])
        if in_set(sets[3], sets[2], pair_hash(h, h2)):
            return False
        h = h2
    return True


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
def memo_insert(key, toks, split, mk_hash, mk_start, mk_len, mt_start, mt_n, m_split,
                m_arena, m_toks, used) -> None:  # fmt: skip
    """Add chunk ``key`` (bytes) with token byte lengths ``toks``; ``used`` = (arena bytes,
    token slots, entries) in use, updated."""
    h = hash_bytes(key, 0, len(key))
    if memo_find(key, 0, len(key), h, mk_hash, mk_start, mk_len, m_arena) >= 0:
        return
    mask = len(mk_hash) - 1
    j = slot_of(h, mask)
    while mk_start[j] >= 0:
        j = (j + 1) & mask
    a, t = used[0], used[1]
    m_arena[a : a + len(key)] = key
    m_toks[t : t + len(toks)] = toks
    mk_hash[j], mk_start[j], mk_len[j] = h, a, len(key)
    mt_start[j], mt_n[j], m_split[j] = t, len(toks), split
    used[0], used[1], used[2] = a + len(key), t + len(toks), used[2] + 1


PENDING = np.uint32(1 << 31)  # a code point already reported as unknown in this scan


@nb.njit(cache=True, inline="always")
def _chunk_end(data, i, e, table, unknown, n_unk):
    """(end of the chunk at ``i``, unknown count, the flags all its characters share or -1
    when it holds an unknown character, :func:`hash_bytes` of the chunk, and for its last
    character: (the flags the others share, the hash of the others, its start, its flags)),
    in one pass."""
    unk = False
    shared = np.uint32(0xFFFFFFFF)
    h = _FNV0
    last = (shared, h, i, np.uint32(0))
    while i < e:
        b = data[i]
        cp, n = (np.int64(b), 1) if b < 0x80 else decode(data, i)
        f = table[cp]
        if f & KNOWN == 0:
            unk = True
            if not f & PENDING and n_unk < len(unknown):
                table[cp] = f | PENDING
                unknown[n_unk] = cp
                n_unk += 1
        elif f & SPACE:
            break  # the space ending the chunk is not one of its characters
        last = (shared, h, i, f)
        shared &= f
        for t in range(i, i + n):
            h = (h ^ np.uint64(data[t])) * _FNV1
        i += n
    return i, n_unk, np.int64(-1) if unk else np.int64(shared), h, last


@nb.njit(cache=True, inline="always")
def _word_suffix(data, cs, ce, last, sets, out_s, out_e, k) -> tuple[int, np.uint64]:
    """A chunk of ``CORE`` letters and one final ``SUF`` character ("word,"): its two
    tokens, as :func:`plain_tokens` gives them (no prefix; the core ends at the suffix; the
    suffix is split off; neither the core nor the chunk is a special case; the two tokens
    are no phrase pair). (new k, hash of the suffix), or -1 for any other chunk."""
    shared_rest, h_rest, ls, f_last = last
    if not (ls > cs and shared_rest & CORE and f_last & SUF):
        return -1, np.uint64(0)
    if in_set(sets[1], sets[0], h_rest) or in_set(sets[1], sets[0], hash_bytes(data, cs, ce)):
        return -1, np.uint64(0)
    h_suf = hash_bytes(data, ls, ce)
    if in_set(sets[3], sets[2], pair_hash(h_rest, h_suf)):
        return -1, np.uint64(0)
    out_s[k], out_e[k], out_s[k + 1], out_e[k + 1] = cs, ls, ls, ce
    return k + 2, h_suf


@nb.njit(cache=True)
def _other_chunk(data, cs, ce, table, sets, memo, out_s, out_e, k, info, starts,
                 ends):  # fmt: skip
    """Tokens of a chunk that is not one plain word: (new k or -1 when the chunk is in no
    memo; 1 when spaCy's tokens show a split special case, 2 when the document must go to
    spaCy whole). Not inlined: the memo is touched only here, off the common path."""
    k2 = plain_tokens(data, cs, ce, table, sets, out_s, out_e, k, info, starts, ends)
    if k2 >= 0:
        return k2, 0
    mk_hash, mk_start, mk_len, mt_start, mt_n, m_split, m_arena, m_toks = memo
    j = memo_find(data, cs, ce, hash_bytes(data, cs, ce), mk_hash, mk_start, mk_len, m_arena)
    if j < 0:
        return -1, 0
    a = cs
    for t in range(mt_start[j], mt_start[j] + mt_n[j]):
        out_s[k], out_e[k] = a, a + m_toks[t]
        a += m_toks[t]
        k += 1
    return k, np.int64(m_split[j])


@nb.njit(cache=True)
def scan_batch(data, offsets, todo, table, sets, memo, out_s, out_e, doc_off, status, miss,
               unknown) -> tuple[int, int]:  # fmt: skip
    """Words of every document as byte spans ``out_s/out_e``, ``doc_off`` per document;
    ``status`` per document (OK or why not). ``sets``: (specials, their bloom, pairs, their
    bloom). Returns the counts of missing chunks (rows of start, end in ``miss``) and
    unknown code points (in ``unknown``)."""
    specials, special_bits, pairs, pair_bits = sets
    info = np.zeros(3, np.int64)
    starts = np.empty(MAX_AFFIX + 3, np.int64)
    ends = np.empty(MAX_AFFIX + 3, np.int64)
    k = n_miss = n_unk = 0
    for d in range(len(offsets) - 1):
        doc_off[d] = k_doc = k
        st, split, crossing, h_last = OK, False, False, np.uint64(0)
        i, e0 = offsets[d], offsets[d + 1]
        if not todo[d]:
            continue
        while i < e0:
            if data[i] < 0x80 and table[data[i]] & KNOWN and table[data[i]] & SPACE:
                i += 1  # the common case of a space, without decoding
                continue
            cp, n = decode(data, i)
            if table[cp] & KNOWN and table[cp] & SPACE:
                i += n
                continue
            cs = i
            i, n_unk, shared, h, last = _chunk_end(data, i, e0, table, unknown, n_unk)
            if st == WHOLE_DOC or st == UNKNOWN_CHAR or shared < 0:
                st = st if st == WHOLE_DOC else UNKNOWN_CHAR
                continue
            if shared & CORE and not in_set(special_bits, specials, h):
                out_s[k], out_e[k] = cs, i  # the common case: one plain word, no affixes
                k2, sp, h_first, h_end = k + 1, 0, h, h
            else:
                k2, h_end = _word_suffix(data, cs, i, last, sets, out_s, out_e, k)
                sp, h_first = 0, last[1]
            if k2 < 0:
                k2, sp = _other_chunk(data, cs, i, table, sets, memo, out_s, out_e, k, info,
                                      starts, ends)  # fmt: skip
                if k2 < 0:
                    if n_miss < len(miss):
                        miss[n_miss, 0], miss[n_miss, 1] = cs, i
                        n_miss += 1
                    st = MISSING_CHUNK
                    continue
                h_first = hash_bytes(data, out_s[k], out_e[k])
                h_end = hash_bytes(data, out_s[k2 - 1], out_e[k2 - 1])
            split = split or sp == 1
            if sp == 2:
                st = WHOLE_DOC
            if k > k_doc and in_set(pair_bits, pairs, pair_hash(h_last, h_first)):
                crossing = True
            h_last = h_end
            k = k2
        if st == OK and crossing and split:
            st = WHOLE_DOC
        if st != OK:
            k = k_doc
        status[d] = st
    doc_off[len(offsets) - 1] = k
    return n_miss, n_unk


@nb.njit(cache=True)
def unknown_chars(data, table, unknown) -> int:
    """Code points of ``data`` not classified yet (each once, up to ``len(unknown)``)."""
    n_unk, i = 0, 0
    while i < len(data):
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

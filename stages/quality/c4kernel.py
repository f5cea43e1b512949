"""Compiled C4 rules of a whole batch (numba): datatrove's ``C4QualityFilter``, line by line.

Per document, over the batch's UTF-8 buffer: ``str.splitlines()`` lines (``LINEBREAK``
characters, "\\r\\n" as one), each ``strip()``-ed; its words are ``line.split()`` (runs of
non-``SPACE`` characters, their length in code points); citation marks (``\\[\\d*]``,
``[edit]``, ``[citation needed]``, ``\\d`` any Unicode decimal digit) are cut out; then the
line rules in datatrove's order. The keyword rules run on the line lower-cased: only ASCII
letters, KELVIN SIGN (to "k") and DOTTED CAPITAL I (to "i" and a combining dot) lower-case to
ASCII, so every other character is a barrier no keyword crosses (a test checks this over all
of Unicode). Sentences of a kept line are counted from its words as spaCy's sentencizer does
(:meth:`.words.ChunkWords.sentence_count`). Kept documents get their kept lines, joined by
"\\n" and stripped.

A document is left to the Python path (``PYTHON``) when its words are not the kernel's. A kept
line whose citations were cut has other words than the kernel's: it is copied out
(``pending``) for the caller to count its sentences, and its document (``PENDING``) to decide.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from corpusforge.stages.quality.charclass import CATP, DECIMAL, LINEBREAK, SENTP, SPACE
from corpusforge.stages.quality.repkernel import strip_span
from corpusforge.stages.quality.wordkernel import decode

DECIDED, PYTHON, PENDING = 0, 1, 2
NO_REASON, LOREM_IPSUM, CURLY_BRACKET, TOO_FEW_SENTENCES = 0, 1, 2, 3
REASONS = (None, "lorem_ipsum", "curly_bracket", "too_few_sentences")
# signals, in the order of the kernel's rows
SIGNALS = (
    "c4_lines",
    "c4_kept_lines",
    "c4_num_sentences",
    "c4_removed_long_word_lines",
    "c4_removed_no_punct_lines",
    "c4_removed_short_lines",
    "c4_removed_javascript_lines",
    "c4_removed_policy_lines",
)
LOREM, JAVASCRIPT, POLICY, CURLY = 1, 2, 4, 8
_KEYWORDS = (
    ("lorem ipsum", LOREM),
    ("javascript", JAVASCRIPT),
    # datatrove's POLICY_SUBSTRINGS (a test checks they are the same)
    ("terms of use", POLICY),
    ("privacy policy", POLICY),
    ("cookie policy", POLICY),
    ("uses cookies", POLICY),
    ("use of cookies", POLICY),
    ("use cookies", POLICY),
)
KEYWORDS = tuple(k for k, _ in _KEYWORDS)
_KW_BYTES = np.frombuffer("".join(KEYWORDS).encode("ascii"), np.uint8)
_KW_OFF = np.cumsum([0] + [len(k) for k in KEYWORDS]).astype(np.int64)
_KW_KIND = np.array([kind for _, kind in _KEYWORDS], np.int64)
_LOWER = np.array([c + 32 if 65 <= c <= 90 else c for c in range(256)], np.uint8)
_LOWER[0x80:] = 0  # a byte of a non-ASCII character: no keyword holds one
# first byte, as is or upper-case -> bit k set for each keyword k it starts
_KW_FIRST = np.zeros(256, np.int64)
# first byte -> the second byte (lower-case) of the keywords it starts; 0xFF: none (no byte
# lower-cases to it). Each first letter has one second letter ("lo", "ja", "te", "pr", "co",
# "us"), so one compare picks the few places worth comparing keywords at.
_KW_SECOND = np.full(256, 0xFF, np.int64)
for _k, _kw in enumerate(KEYWORDS):
    for _c in (_kw[0], _kw[0].upper()):
        _KW_FIRST[ord(_c)] |= 1 << _k
        assert _KW_SECOND[ord(_c)] in (0xFF, ord(_kw[1]))
        _KW_SECOND[ord(_c)] = ord(_kw[1])
_CITES = (b"[edit]", b"[citation needed]")
_CITE_BYTES = np.frombuffer(b"".join(_CITES), np.uint8)
_CITE_OFF = np.cumsum([0] + [len(c) for c in _CITES]).astype(np.int64)
# params (int64): remove_citations, filter_no_terminal_punct, min_num_sentences,
# min_words_per_line, max_word_length, filter_lorem_ipsum, filter_javascript,
# filter_curly_bracket, filter_policy, remove_lines
N_PARAMS = 10


@nb.njit(cache=True)
def _copy(dst, o, src, s, e) -> int:
    """``dst[o:o + e - s] = src[s:e]`` without the temporary numba's slice assignment may
    allocate (not allowed without reference counting); the new ``o``."""
    for t in range(e - s):
        dst[o + t] = src[s + t]
    return o + e - s


@nb.njit(cache=True)
def _words(data, s, e, table, max_len) -> tuple[int, bool]:
    """(words of ``line.split()``, whether one has more than ``max_len`` code points, -1:
    no limit)."""
    n_words, too_long, run, i = 0, False, 0, s
    while i < e:
        c = data[i]
        if 0x21 <= c < 0x80:  # printable ASCII: no space (those are all <= 0x20)
            n_words += run == 0
            run += 1
            too_long = too_long or (max_len != -1 and run > max_len)
            i += 1
            continue
        cp, n = decode(data, i)
        if table[cp] & SPACE:
            run = 0
        else:
            n_words += run == 0
            run += 1
            too_long = too_long or (max_len != -1 and run > max_len)
        i += n
    return n_words, too_long


@nb.njit(cache=True)
def _same(buf, p, e, ref, a, b) -> bool:
    if p + b - a > e:
        return False
    for t in range(b - a):
        if buf[p + t] != ref[a + t]:
            return False
    return True


@nb.njit(cache=True)
def _citation_end(data, p, e, table) -> int:
    """End of the citation mark at ``p`` (a "["), or -1: ``\\[\\d*]``, then "[edit]", then
    "[citation needed]", as the regex alternation tries them."""
    q = p + 1
    while q < e:
        cp, n = decode(data, q)
        if not table[cp] & DECIMAL:
            break
        q += n
    if q < e and data[q] == 93:
        return q + 1
    for c in range(len(_CITE_OFF) - 1):
        if _same(data, p, e, _CITE_BYTES, _CITE_OFF[c], _CITE_OFF[c + 1]):
            return p + _CITE_OFF[c + 1] - _CITE_OFF[c]
    return -1


@nb.njit(cache=True)
def _cut_citations(data, s, e, table, clean) -> int:
    """``CITATION_REGEX.sub("", line)`` into ``clean``; its length, or -1 when the line has
    no citation mark (then it is unchanged)."""
    n, a, p, cut = 0, s, s, False
    while p < e:
        if data[p] == 91:
            q = _citation_end(data, p, e, table)
            if q >= 0:
                n = _copy(clean, n, data, a, p)
                a, p, cut = q, q, True
                continue
        p += 1
    if not cut:
        return -1
    return _copy(clean, n, data, a, e)


@nb.njit(cache=True)
def _terminal(buf, s, e) -> bool:
    """``line.endswith(END_PUNCTUATION) and not line.endswith("...")``: all ASCII, so the
    last byte decides (UTF-8 continuation bytes are >= 0x80)."""
    if e <= s:
        return False
    c = buf[e - 1]
    if not (c == 46 or c == 63 or c == 33 or c == 34 or c == 39):
        return False
    return not (e - s >= 3 and buf[e - 1] == 46 and buf[e - 2] == 46 and buf[e - 3] == 46)


@nb.njit(cache=True)
def _lower(buf, s, e, low) -> tuple[int, bool]:
    """The line lower-cased where it matters (ASCII letters, U+212A -> "k", U+0130 -> "i" +
    a barrier; any other non-ASCII character: one barrier byte 0) into ``low``: its length,
    and whether the line holds a "{"."""
    n, i, curly = 0, s, False
    while i < e:
        c = buf[i]
        if c < 0x80:
            low[n] = _LOWER[c]
            curly = curly or c == 123
            n += 1
            i += 1
            continue
        cp, m = decode(buf, i)
        if cp == 0x212A:
            low[n] = 107
        elif cp == 0x130:
            low[n], low[n + 1] = 105, 0
            n += 1
        else:
            low[n] = 0
        n += 1
        i += m
    return n, curly


@nb.njit(cache=True, inline="always")
def _same_lowered(buf, p, e, ref, a, b) -> bool:
    """``buf[p:]`` lower-cased (ASCII letters) starts with ``ref[a:b]``."""
    if p + b - a > e:
        return False
    for t in range(b - a):
        if _LOWER[buf[p + t]] != ref[a + t]:
            return False
    return True


@nb.njit(cache=True)
def _keywords(buf, s, e, low) -> int:
    """LOREM | JAVASCRIPT | POLICY | CURLY: what the line holds ("{" as is, the keywords in
    its lower case). The line is read once, lower-casing ASCII letters on the fly where two
    bytes could start a keyword; any other character is a barrier (a byte >= 0x80 equals no
    keyword byte) except KELVIN SIGN and DOTTED CAPITAL I, which lower-case to ASCII: a line
    holding one is lower-cased into ``low`` first (:func:`_keywords_lowered`)."""
    found = 0
    for i in range(s, e):
        c = buf[i]
        if c == 0xE2 or c == 0xC4:  # U+212A is E2 84 AA, U+0130 is C4 B0
            if (c == 0xE2 and i + 2 < e and buf[i + 1] == 0x84 and buf[i + 2] == 0xAA) or (
                c == 0xC4 and i + 1 < e and buf[i + 1] == 0xB0
            ):
                return _keywords_lowered(buf, s, e, low)
        if c == 123:
            found |= CURLY
        if i + 1 >= e or _LOWER[buf[i + 1]] != _KW_SECOND[c]:
            continue
        found = _keywords_at(buf, i, e, c, found)
    return found


@nb.njit(cache=True)
def _keywords_lowered(buf, s, e, low) -> int:
    """:func:`_keywords` of a line with non-ASCII characters (see :func:`_lower`)."""
    n, curly = _lower(buf, s, e, low)
    found = CURLY if curly else 0
    for i in range(n):
        found = _keywords_at(low, i, n, low[i], found)
    return found


@nb.njit(cache=True, inline="always")
def _keywords_at(buf, i, e, c, found) -> int:
    """``found`` with the kinds of the keywords that ``buf[i:e]`` (lower-cased) starts with
    (``c``: its first byte)."""
    starts, k = _KW_FIRST[c], 0
    while starts:
        if starts & 1:
            kind = _KW_KIND[k]
            if not found & kind and _same_lowered(buf, i, e, _KW_BYTES, _KW_OFF[k], _KW_OFF[k + 1]):
                found |= kind
        starts >>= 1
        k += 1
    return found


@nb.njit(cache=True)
def _all_punct(data, s, e, table) -> bool:
    """spaCy's ``is_punct``: every character of the token is in a P* category."""
    i = s
    while i < e:
        cp, n = decode(data, i)
        if not table[cp] & CATP:
            return False
        i += n
    return True


@nb.njit(cache=True)
def _sentences(data, ws, we, a, b, table) -> int:
    """Sentences spaCy's sentencizer finds in a line of words ``[a, b)``: a new one starts at
    a token that is neither punctuation nor a sentence mark after a sentence mark; the
    whitespace between two words is a token of its own unless it is one plain space."""
    count, seen = 1, False
    for t in range(a, b):
        if t > a:
            g = ws[t] - we[t - 1]
            if g > 0 and not (g == 1 and data[we[t - 1]] == 32) and seen:
                count, seen = count + 1, False
        cp, n = decode(data, ws[t])
        mark = n == we[t] - ws[t] and table[cp] & SENTP != 0
        if seen and not mark and not _all_punct(data, ws[t], we[t], table):
            count, seen = count + 1, False
        elif mark:
            seen = True
    return count


@nb.njit(cache=True)
def _write_kept(data, arena, kept_s, kept_e, kept_src, n_kept, out, o, table) -> int:
    """``"\n".join(kept).strip()`` at ``out[o:]``; a kept line is ``data`` or, where
    ``kept_src``, ``arena`` bytes. Returns the new o."""
    o0 = o
    for t in range(n_kept):
        if t:
            out[o] = 10
            o += 1
        if kept_src[t]:
            o = _copy(out, o, arena, kept_s[t], kept_e[t])
        else:
            o = _copy(out, o, data, kept_s[t], kept_e[t])
    a, b = strip_span(out, o0, o, table)
    return _copy(out, o0, out, a, b)  # forward copy: a >= o0


@nb.njit(cache=True)
def _count_lines(data, s, e, table) -> int:
    """``len(text.splitlines())``."""
    n_lines, a, i = 0, s, s
    while i < e:
        cp, n = decode(data, i)
        if table[cp] & LINEBREAK:
            n_lines += 1
            i += 2 if cp == 13 and i + 1 < e and data[i + 1] == 10 else n
            a = i
        else:
            i += n
    return n_lines + (a < e)


@nb.njit(cache=True)
def _line_checks(buf, s, e, low, no_punct) -> int:
    """-1 when the (citation-free) line ``buf[s:e]`` lacks terminal punctuation and that
    rule is on, else what :func:`_keywords` finds."""
    if no_punct and not _terminal(buf, s, e):
        return -1
    return _keywords(buf, s, e, low)


@nb.njit(cache=True)
def _doc(data, s, e, d, ws, we, w, table, lang_ok, params, sig, scratch, arena, pending,
         counts) -> tuple[int, int, int]:  # fmt: skip
    """The C4 rules on document ``d``: (reason, status, kept lines: their spans in
    ``scratch``); ``sig[d]`` gets its signals (the counts up to the line that decided, without
    the sentences of ``pending`` lines: rows of document, start and end in ``arena``;
    ``counts``: bytes used in the arena, pending rows)."""
    clean, low, kept_s, kept_e, kept_src = scratch
    min_sent, min_words, max_len = params[2], params[3], params[4]
    n_sent, n_kept, a, i, st = 0, 0, s, s, DECIDED
    while i <= e:
        if i < e:
            if 0x20 <= data[i] < 0x80:  # printable ASCII: no line break (those are < 0x20)
                i += 1
                continue
            cp, n = decode(data, i)
            if not table[cp] & LINEBREAK:
                i += n
                continue
            nxt = i + (2 if cp == 13 and i + 1 < e and data[i + 1] == 10 else n)
        elif a == e:
            break  # no empty line after a final line break (str.splitlines)
        else:
            nxt = e + 1
        sig[d, 0] += 1
        ls, le = strip_span(data, a, i, table)
        a, i = nxt, nxt
        n_words, too_long = _words(data, ls, le, table, max_len)
        if too_long:
            sig[d, 3] += 1
            continue
        m = _cut_citations(data, ls, le, table, clean) if params[0] else -1
        if m >= 0:
            kw = _line_checks(clean, 0, m, low, params[1])
        else:
            kw = _line_checks(data, ls, le, low, params[1])
        if kw < 0:
            sig[d, 4] += 1
            continue
        if n_words < min_words:
            sig[d, 5] += 1
            continue
        if params[5] and kw & LOREM:
            sig[d, 0] += _count_lines(data, a, e, table)  # c4_lines: all of them
            return LOREM_IPSUM, DECIDED, n_kept
        if lang_ok and params[6] and kw & JAVASCRIPT:
            sig[d, 6] += 1
            continue
        if params[7] and kw & CURLY:
            sig[d, 0] += _count_lines(data, a, e, table)
            return CURLY_BRACKET, DECIDED, n_kept
        if lang_ok and params[8] and kw & POLICY:
            sig[d, 7] += 1
            continue
        if m >= 0:  # the cut line: its sentences are counted by the caller
            r = counts[0]
            counts[0] = _copy(arena, r, clean, 0, m)
            q = counts[1]
            pending[q, 0], pending[q, 1], pending[q, 2] = d, r, r + m
            counts[1] += 1
            kept_s[n_kept], kept_e[n_kept], kept_src[n_kept] = r, r + m, 1
            st = PENDING
        else:
            if min_sent != -1:
                while w[0] < w[1] and ws[w[0]] < ls:
                    w[0] += 1
                b = w[0]
                while b < w[1] and ws[b] < le:
                    b += 1
                n_sent += _sentences(data, ws, we, w[0], b, table)
                w[0] = b
            kept_s[n_kept], kept_e[n_kept], kept_src[n_kept] = ls, le, 0
        n_kept += 1
        sig[d, 1], sig[d, 2] = n_kept, n_sent
    sig[d, 1], sig[d, 2] = n_kept, n_sent
    if st == PENDING:
        return NO_REASON, PENDING, n_kept
    return (TOO_FEW_SENTENCES if n_sent < min_sent else NO_REASON), DECIDED, n_kept


# No reference counting (``_nrt=False``: it may not allocate): numba would count references
# to the arrays passed to every per-line helper (as in wordkernel.scan_batch).
@nb.njit(cache=True, _nrt=False)
def c4_batch(data, offsets, ok, doc_off, ws, we, table, scope, params, sig, reason, status,
             out, out_off, scratch, arena, pending, counts, w) -> None:  # fmt: skip
    """The C4 rules on every document: ``sig`` (rows of SIGNALS), ``reason``, ``status``
    (DECIDED, PYTHON or PENDING) and the new text (``out``, ``out_off``: kept (or pending)
    documents' kept lines when ``params`` asks to remove lines, else the text as it was).
    ``arena``, ``pending``, ``counts``: see :func:`_doc`; ``w``: two int64 of scratch."""
    o = 0
    for d in range(len(offsets) - 1):
        s, e = offsets[d], offsets[d + 1]
        out_off[d] = o
        if not ok[d]:
            status[d] = PYTHON
        else:
            w[0], w[1] = doc_off[d], doc_off[d + 1]
            r, st, n_kept = _doc(data, s, e, d, ws, we, w, table, scope[d], params, sig,
                                 scratch, arena, pending, counts)  # fmt: skip
            reason[d], status[d] = r, st
            if st != PYTHON and r == NO_REASON and params[9]:
                o = _write_kept(data, arena, scratch[2], scratch[3], scratch[4], n_kept, out, o,
                                table)  # fmt: skip
                continue
        o = _copy(out, o, data, s, e)
    out_off[len(offsets) - 1] = o

"""Per-code-point classes for the compiled quality kernels, probed from spaCy and datatrove.

The kernels look every character up in one ``uint32`` flag table of 0x110000 entries. A code
point is classified the first time a batch holds it (``KNOWN`` unset until then), so a process
pays only for the characters it meets: a few thousand for a multilingual web corpus.

The tokenizer flags are not read off spaCy's rule lists by hand: each is *probed* by asking
the language's own compiled prefix/suffix/infix functions about short strings holding the
character (``"a" + c``, ``c + "."``, ``"a-" + c``...). What the kernel then assumes (a run of
``CORE`` characters is one token, a ``SUF`` character at the end of a chunk is its own token,
and so on, see :mod:`.wordkernel`) holds for every character that passed its probes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

import numpy as np
from datatrove.utils.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION

KNOWN = 1 << 0
SPACE = 1 << 1  # str.isspace
ALPHA = 1 << 2  # str.isalpha
PUNCTSET = 1 << 3  # in datatrove's PUNCTUATION_SET (symbol words)
CATP = 1 << 4  # unicode category P* (spaCy's is_punct)
SENTP = 1 << 5  # a sentencizer punctuation character
TERM = 1 << 6  # datatrove's TERMINAL_PUNCTUATION (FineWeb's default stop chars)
CORE = 1 << 7  # letter or mark no affix/infix rule touches: part of a plain word
DIGIT = 1 << 8  # ASCII digit
DOTSPLIT = 1 << 9  # a "." right after this character is split off as a suffix
UPPER = 1 << 10  # a "." after two of these is split off (spaCy's two-capitals rule)
HYPHEN_OK = 1 << 11  # a "-" between two of these is an infix
PRE = 1 << 12  # always a one-character prefix
SUF = 1 << 13  # always a one-character suffix
LINEBREAK = 1 << 14  # str.splitlines boundary
DECIMAL = 1 << 15  # regex \d (unicode decimal digit, category Nd)

# characters tried as one-character affixes (apostrophes are left out: "'s", "'em", "n't")
PRE_CANDIDATES = '([{"\u201c\u00ab\u201e\u00bf\u00a1\u2018<'
SUF_CANDIDATES = (
    ',;:!?)]}"\u201d\u00bb>\u3002\uff0c\u3001\uff01\uff1f\uff1a\uff1b\u0964\u061f\u060c'
)
LINEBREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
TABLE_SIZE = 0x110000


class CharTable:
    """The flag table of one spaCy tokenizer, filled lazily (:meth:`learn`)."""

    def __init__(self, tokenizer, punct_chars: Iterable[str]) -> None:
        self.tok = tokenizer
        self.punct_chars = set(punct_chars)
        self.table = np.zeros(TABLE_SIZE, dtype=np.uint32)

    def learn(self, code_points: Iterable[int]) -> None:
        for cp in code_points:
            self.table[cp] = self._flags(int(cp))

    def _flags(self, cp: int) -> int:
        if 0xD800 <= cp <= 0xDFFF:
            return KNOWN
        c = chr(cp)
        f = KNOWN
        f |= SPACE if c.isspace() else 0
        f |= ALPHA if c.isalpha() else 0
        f |= PUNCTSET if c in PUNCTUATION_SET else 0
        cat = unicodedata.category(c)
        f |= CATP if cat[0] == "P" else 0
        f |= SENTP if c in self.punct_chars else 0
        f |= TERM if c in TERMINAL_PUNCTUATION else 0
        f |= LINEBREAK if c in LINEBREAKS else 0
        f |= DECIMAL if cat == "Nd" else 0
        if "0" <= c <= "9":
            f |= DIGIT | (DOTSPLIT if self._dot_splits(c) else 0)
        elif self._is_core(c, cat) and (core := self._core_flags(c)) >= 0:
            f |= CORE | core
        elif c in PRE_CANDIDATES and self._is_pre(c):
            f |= PRE
        elif c in SUF_CANDIDATES and self._is_suf(c):
            f |= SUF | (DOTSPLIT if self._dot_splits(c) else 0)
        return f

    def _is_core(self, c: str, cat: str) -> bool:
        if c.isspace() or not (c.isalpha() or cat[0] == "M") or c.isnumeric():
            return False
        t = self.tok
        if t.find_prefix(c) or t.find_suffix(c) or t.find_prefix(c + "a"):
            return False
        if t.find_suffix("a" + c) or t.find_suffix(c + c) or t.find_prefix(c + c):
            return False
        if t.find_infix("a" + c + "a") or t.find_infix(c + c + c) or t.find_infix(c + "aa"):
            return False
        return not (t.url_match and t.url_match(c + c))

    def _core_flags(self, c: str) -> int:
        t = self.tok
        f = 0
        if all(t.find_suffix(x + c + ".") == 1 for x in ("", "a", "A", c)):
            f |= DOTSPLIT
        elif (
            t.find_suffix(c + c + ".") == 1
            and t.find_suffix("A" + c + ".") == 1
            and t.find_suffix(c + "A.") == 1
            and not t.find_suffix("a" + c + ".")
            and not t.find_suffix(c + ".")
        ):
            f |= UPPER
        elif any(t.find_suffix(x + c + ".") for x in ("", "a", "A", c)):
            return -1  # a "." after it splits in some contexts only: not a plain word character
        if _one_infix(t, c + "-a") and _one_infix(t, "a-" + c) and _one_infix(t, c + "-" + c):
            f |= HYPHEN_OK
        return f

    def _is_pre(self, c: str) -> bool:
        t = self.tok
        return all(t.find_prefix(c + x) == 1 for x in ("a", "A", "1", c + "a", "(a"))

    def _is_suf(self, c: str) -> bool:
        t = self.tok
        return all(t.find_suffix(x + c) == 1 for x in ("a", "A", "1", "a" + c, "a)"))

    def _dot_splits(self, c: str) -> bool:
        t = self.tok
        return all(t.find_suffix(x + c + ".") == 1 for x in ("", "a", "A", "1"))


def _one_infix(t, s: str) -> bool:
    """``s`` (x-y) has exactly one infix match: its hyphen."""
    found = list(t.find_infix(s))
    return len(found) == 1 and found[0].span() == (1, 2)

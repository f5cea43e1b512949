"""Per-code-point classes for the compiled quality kernels, probed from spaCy and datatrove.

The kernels look every character up in one ``uint32`` flag table of 0x110000 entries. The flags
of every assigned code point (about 145k) are computed once per machine and kept in the user
cache (:mod:`corpusforge.stages.machine_cache`, about 5 CPU-s, then a 4 MB load), named by a
fingerprint of all they depend on; any other code point (unassigned, private use) is classified
the first time a batch holds it (``KNOWN`` unset until then). A process therefore does not
probe spaCy for the thousands of characters a multilingual corpus holds (about 30 us each).

The tokenizer flags are not read off spaCy's rule lists by hand: each is *probed* by asking
the language's own compiled prefix/suffix/infix functions about short strings holding the
character (``"a" + c``, ``c + "."``, ``"a-" + c``...). What the kernel then assumes (a run of
``CORE`` characters is one token, a ``SUF`` character at the end of a chunk is its own token,
and so on, see :mod:`.wordkernel`) holds for every character that passed its probes.
"""

from __future__ import annotations

import hashlib
import logging
import string
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from datatrove.utils.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION

from corpusforge.stages.machine_cache import build_once, cache_dir

log = logging.getLogger("corpusforge")

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
HYPHEN_OK = 1 << 11  # a "-" (or a dash infix) between two of these is an infix
PRE = 1 << 12  # always a one-character prefix
SUF = 1 << 13  # always a one-character suffix
LINEBREAK = 1 << 14  # str.splitlines boundary
DECIMAL = 1 << 15  # regex \d (unicode decimal digit, category Nd)
NUMSEP = 1 << 16  # between two ASCII digits, part of one number token ("3.5", "8:30")
APOS = 1 << 17  # between two CORE letters, part of their token ("iba't", "company's")
APOS_S = 1 << 18  # this + "s"/"S" at the end of a chunk's core is one suffix ("'s")
EDGE_HYPHEN = 1 << 19  # on "-": first or last character of a word token ("tetanus-", "-ci")
NUM_HYPHEN = 1 << 20  # on "-": between two ASCII digits, an infix ("2-5")
NUM_LEAD = 1 << 21  # on "-": a leading minus stays in its number's token ("-974.829")
DIGIT_OK = 1 << 22  # a CORE letter next to ASCII digits stays in their token ("0x8783")
DASH = 1 << 23  # part of some dash infix between two letters ("--", "\u2014": CharTable.dashes)
DIGIT_HYPHEN = 1 << 24  # on "-": between a digit and a HYPHEN_OK letter, an infix ("90-luvun")
HYPHEN_JOIN = 1 << 25  # on "-": between a letter and a digit, inside one token ("HR-48350")
HYPHEN_NO = 1 << 26  # a CORE character a "-" next to never splits from ("қ-қ" is one token)
UNIT_FREE = 1 << 27  # a CORE character that is no unit after a number ("19a"; not "5G")
INFIX = 1 << 28  # an infix between two HYPHEN_OK letters ("und/oder", "a,b")
DIGIT_SUF = 1 << 29  # a one-character suffix right after an ASCII digit only ("84%")

# characters tried as one-character affixes: punctuation and symbols (each is probed)
AFFIX_CATEGORIES = ("P", "S")
NUMSEP_CANDIDATES = ".,:/\u2013\u2014"
APOS_CANDIDATES = "'\u2019\u2018`\u00b4"
# dash runs tried as infixes between two letters ("-" alone is the HYPHEN_OK rule)
DASH_CANDIDATES = ("--", "---", "\u2013", "\u2014", "\u2014\u2014", "~")
LINEBREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
TABLE_SIZE = 0x110000


def assigned_code_points() -> list[int]:
    """Code points with a character (not unassigned, private use or surrogate)."""
    return [
        cp for cp in range(TABLE_SIZE) if unicodedata.category(chr(cp)) not in ("Cn", "Co", "Cs")
    ]


class CharTable:
    """The flag table of one spaCy tokenizer: every assigned code point from the machine
    cache (``cached``), the others learnt when met (:meth:`learn`)."""

    def __init__(self, tokenizer, punct_chars: Iterable[str], cached: bool = True) -> None:
        self.tok = tokenizer
        self.punct_chars = set(punct_chars)
        self.table = np.zeros(TABLE_SIZE, dtype=np.uint32)
        self.dashes = [h for h in DASH_CANDIDATES if self._dash_infix(h)]
        self.units2 = self._two_letter_units()
        if cached:
            self._load_assigned()

    def fingerprint(self) -> str | None:
        """A name for what the flags depend on: spaCy's version and affix patterns, Python's
        Unicode data, the sentencizer's and datatrove's punctuation, this module's probes.
        None when a rule is not a compiled pattern (no stable name: nothing is cached)."""
        import spacy

        t = self.tok
        patterns: list[str | None] = []
        for rule in (t.prefix_search, t.suffix_search, t.infix_finditer, t.url_match):
            pattern = getattr(getattr(rule, "__self__", None), "pattern", None)
            if rule is not None and not isinstance(pattern, str):
                return None
            patterns.append(pattern)
        parts = (
            spacy.__version__,
            unicodedata.unidata_version,
            hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
            patterns,
            sorted(self.punct_chars),
            sorted(PUNCTUATION_SET),
            sorted(TERMINAL_PUNCTUATION),
            self.dashes,
        )
        return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:24]

    def _load_assigned(self) -> None:
        """The flags of every assigned code point from the machine cache, built there first
        when missing. Without a cache (no fingerprint, a folder that cannot be written, a file
        that does not load) every code point is learnt when met, as before."""
        fingerprint = self.fingerprint()
        if fingerprint is None:
            return
        path = cache_dir() / f"quality_char_flags_{fingerprint}.npy"
        built = False

        def write(tmp: Path) -> None:
            nonlocal built
            log.info("building the quality kernels' character table, once per machine: %s", path)
            self.learn(assigned_code_points())
            built = True
            with open(tmp, "wb") as f:
                np.save(f, self.table)

        if not build_once(path, write) or built:
            return  # no cache, or this process built the table: it is in self.table already
        try:
            table = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return
        if table.shape == self.table.shape and table.dtype == self.table.dtype:
            self.table = table

    def _two_letter_units(self) -> np.ndarray:
        """1 at ``(ord(a) << 7) | ord(b)`` for ASCII letters a, b that spaCy does not split
        off after a number as a unit ("10th" stays whole, "10km" does not)."""
        t = self.tok
        out = np.zeros(1 << 14, np.uint8)
        for a in string.ascii_letters:
            for b in string.ascii_letters:
                if not (t.find_suffix("1" + a + b) or t.find_suffix("a1" + a + b)):
                    out[(ord(a) << 7) | ord(b)] = 1
        return out

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
        f |= DASH if any(c in h for h in self.dashes) else 0
        if "0" <= c <= "9":
            return f | DIGIT | (DOTSPLIT if self._dot_splits(c) else 0)
        if self._is_core(c) and (core := self._core_flags(c)) >= 0:
            return f | CORE | core
        if cat[0] in AFFIX_CATEGORIES and not c.isspace():
            f |= PRE if self._is_pre(c) else 0
            f |= SUF | (DOTSPLIT if self._dot_splits(c) else 0) if self._is_suf(c) else 0
        f |= NUMSEP if c in NUMSEP_CANDIDATES and self._num_sep(c) else 0
        f |= INFIX if cat[0] in AFFIX_CATEGORIES and self._infix(c) else 0
        f |= DIGIT_SUF if cat[0] in AFFIX_CATEGORIES and self._digit_suf(c) else 0
        f |= self._apos_flags(c) if c in APOS_CANDIDATES else 0
        f |= self._hyphen_flags() if c == "-" else 0
        return f

    def _is_core(self, c: str) -> bool:
        """No affix or infix rule touches ``c`` among letters or its own kind: letters,
        marks, non-ASCII digits, format and punctuation characters that pass."""
        if c.isspace():
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
        elif _untouched(t, (c + "-a", "a-" + c, c + "-" + c)):
            f |= HYPHEN_NO
        # next to ASCII digits: no affix or infix (a unit at the end is UNIT_FREE's matter)
        touched = list(t.find_infix("1" + c + "1")) or t.find_prefix(c + "1")
        if not (touched or t.find_suffix(c + "1")):
            f |= DIGIT_OK | (0 if t.find_suffix("1" + c) else UNIT_FREE)
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

    def _infix(self, c: str) -> bool:
        cases = {"a" + c + "a": (1, 2), "A" + c + "A": (1, 2), "ab" + c + "cd": (2, 3)}
        return all(_infix_spans(self.tok, s) == [span] for s, span in cases.items())

    def _digit_suf(self, c: str) -> bool:
        t = self.tok
        after_digit = all(t.find_suffix(x + c) == 1 for x in ("1", "11", "1.1", "a1"))
        return after_digit and not any(t.find_suffix(x + c) for x in ("a", "A", "."))

    def _num_sep(self, c: str) -> bool:
        strings = (
            "1" + c + "1",
            "11" + c + "11" + c + "1",
            "1" + c + "1" + c + "1",
            "-1" + c + "1",
        )
        return _untouched(self.tok, strings)

    def _apos_flags(self, c: str) -> int:
        t = self.tok
        f = (
            APOS
            if _untouched(
                t, ("a" + c + "a", "A" + c + "A", "aa" + c + "aa", "a" + c + "a" + c + "a")
            )
            else 0
        )
        ends = ("a" + c + "s", "a" + c + "S", "A" + c + "s", "aa" + c + "s", "1" + c + "s")
        if all(t.find_suffix(x) == 2 for x in ends):
            f |= APOS_S
        return f

    def _hyphen_flags(self) -> int:
        t = self.tok
        f = DOTSPLIT if self._dot_splits("-") else 0
        if _untouched(t, ("-a", "a-", "-A", "A-", "-aa", "aa-", "-a-", "1-", "11-", "a1-")):
            f |= EDGE_HYPHEN
        if _untouched(t, ("a-1", "aa-11", "A-1", "a-1a", "1a-1")):
            f |= HYPHEN_JOIN
        cases = (("1-a", 1), ("11-aa", 2), ("1-A", 1))
        if all(_infix_spans(t, s) == [(n, n + 1)] for s, n in cases):
            f |= DIGIT_HYPHEN
        if _untouched(t, ("-1", "-11", "-1.1")):
            f |= NUM_LEAD
        infixes = {"1-1": [(1, 2)], "11-11": [(2, 3)], "1-1-1": [(1, 2), (3, 4)], "-1-1": [(2, 3)]}
        if all(_infix_spans(t, s) == spans for s, spans in infixes.items()):
            f |= NUM_HYPHEN
        return f

    def _dash_infix(self, h: str) -> bool:
        n = len(h)
        cases = {"a" + h + "a": (1, 1 + n), "A" + h + "A": (1, 1 + n), "ab" + h + "cd": (2, 2 + n)}
        return all(_infix_spans(self.tok, s) == [span] for s, span in cases.items())


def _one_infix(t, s: str) -> bool:
    """``s`` (x-y) has exactly one infix match: its hyphen."""
    found = list(t.find_infix(s))
    return len(found) == 1 and found[0].span() == (1, 2)


def _infix_spans(t, s: str) -> list[tuple[int, int]]:
    return [m.span() for m in t.find_infix(s)]


def _untouched(t, strings: Iterable[str]) -> bool:
    """No prefix, suffix or infix rule matches any of ``strings``."""
    return not any(t.find_prefix(s) or t.find_suffix(s) or list(t.find_infix(s)) for s in strings)

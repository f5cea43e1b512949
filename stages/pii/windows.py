"""Where the analyzer has to look: cheap candidate triggers, windows around them, chunks.

Presidio's pattern recognizers scan the whole text once per pattern; most documents of a
corpus hold no PII at all. One compiled trigger regex per entity type finds the few places a
recognizer could match, and only windows around them reach Presidio. Every recognizer match
contains a trigger match (the triggers are deliberately looser than the recognizers), windows
end at whitespace and reach ``margin`` characters past their trigger, so a match never leaves
its window. (One known gap: a phone number whose digit groups line breaks separate, such as
``(0301)\n123456``, holds no digit trigger; it is found only inside another trigger's
window.) Long texts (and NER, which has no trigger) are cut into overlapping chunks.

Per batch, RE2 (Arrow compute, C++) first tells for every text which triggers can match in
it at all, so Python runs only those; which recognizers then see a window is ``gates.py``'s
business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Looser than the recognizers they guard; see the module docstring. Each is its own regex
# starting with a plain character class: Python's re skips ahead fast on such a prefix, while
# one alternation of them all is tried at every position (4x slower, measured).
_DIGITS = r"\d(?:[^\w\n]{0,4}\d){6,}"  # 7+ digits, short separators: phone, card, SSN
TRIGGERS: dict[str, list[str]] = {
    "EMAIL": [r"@"],
    "IP": [r"\d\.\d{1,3}\.\d{1,3}\.\d", r":[0-9A-Fa-f]{0,4}:"],
    "PHONE": [_DIGITS],
    "CREDIT_CARD": [_DIGITS],
    "US_SSN": [_DIGITS],
    "IBAN": [r"[A-Za-z][A-Za-z]\d\d"],
    "URL": [r"://|www\.|\w\.[a-zA-Z]{2}"],
}


def batch_prefilter(entities: list[str]) -> str | None:
    """One RE2 pattern (Arrow compute) matching every text in which any trigger of
    ``entities`` matches: the whole batch is scanned at once in C++, and only texts it
    matches are cut into windows in Python. RE2's ``\\d`` and ``\\w`` are ASCII, Python's
    Unicode: they become Unicode classes, so the prefilter stays at least as loose as the
    triggers."""
    seen = dict.fromkeys(rx for e in entities for rx in TRIGGERS.get(e, []))
    if not seen:
        return None
    return "|".join(f"(?:{_to_re2(rx)})" for rx in seen)


def _to_re2(rx: str) -> str:
    # [^\w\n]: separators; stays as is (RE2's ASCII \w only widens the negated class)
    rx = rx.replace(r"[^\w\n]", "\0")
    rx = rx.replace(r"\w", r"[\p{L}\p{N}\p{M}_]").replace(r"\d", r"\p{Nd}")
    return rx.replace("\0", r"[^\w\n]")


class Triggers:
    """The distinct triggers of some entities: compiled for Python, and as RE2 patterns that
    tell, for a whole Arrow batch at once, in which texts each one can match."""

    def __init__(self, entities: list[str]) -> None:
        self.patterns = list(dict.fromkeys(rx for e in entities for rx in TRIGGERS.get(e, [])))
        self.compiled = [re.compile(rx) for rx in self.patterns]
        self._re2 = [_to_re2(rx) for rx in self.patterns]

    def flags(self, texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """(texts, triggers) booleans: True where the trigger may match (at least wherever
        Python's regex does: see ``batch_prefilter``), False for null texts."""
        columns = [
            pc.fill_null(pc.match_substring_regex(texts, rx), False).to_numpy(zero_copy_only=False)
            for rx in self._re2
        ]
        if not columns:
            return np.zeros((len(texts), 0), dtype=bool)
        return np.column_stack(columns).astype(bool, copy=False)

    def compiled_where(self, row: np.ndarray) -> list[re.Pattern[str]]:
        """The compiled triggers flagged in one row of :meth:`flags`."""
        return [rx for rx, on in zip(self.compiled, row.tolist(), strict=True) if on]


@dataclass(frozen=True)
class Piece:
    """A slice ``text[start:end]`` to analyze. ``cut_left``/``cut_right``: the slice edge cuts
    through text another piece overlaps, so hits touching that edge belong to the other."""

    start: int
    end: int
    cut_left: bool = False
    cut_right: bool = False


# Python's ``\s`` is ``str.isspace()`` (both are Py_UNICODE_ISSPACE): the edges found with these
# are the ones a character loop would find, in C.
_LAST_SPACE = re.compile(r"(?s).*\s")
_SPACE = re.compile(r"\s")


def _space_left(text: str, i: int, limit: int) -> int | None:
    """The nearest i' <= i, at most ``limit`` back, that starts the text or follows
    whitespace; None if there is none."""
    stop = max(0, i - limit)
    m = _LAST_SPACE.match(text, max(0, stop - 1), i)  # greedy: the last whitespace
    if m is not None:
        return m.end()
    return 0 if stop == 0 else None


def _space_right(text: str, i: int, limit: int) -> int | None:
    """The nearest i' >= i, at most ``limit`` ahead, that ends the text or is whitespace."""
    n = len(text)
    stop = min(n, i + limit)
    m = _SPACE.search(text, i, stop + 1)  # the character at ``stop`` counts too
    if m is not None:
        return m.start()
    return n if stop == n else None


def token_start(text: str, i: int, lo: int = 0) -> int:
    """Where the whitespace-delimited word holding ``text[i]`` starts (no earlier than
    ``lo``)."""
    m = _LAST_SPACE.match(text, lo, i)
    return m.end() if m is not None else lo


def next_space(text: str, i: int) -> int:
    """The first whitespace at or after ``i`` (the end of the text if none)."""
    m = _SPACE.search(text, i)
    return m.start() if m is not None else len(text)


def windows(text: str, triggers: list[re.Pattern[str]], margin: int) -> list[Piece]:
    """Merged windows around trigger matches, widened to whitespace (an edge that finds no
    whitespace within ``margin`` more characters is marked as a cut)."""
    out: list[Piece] = []
    n = len(text)
    hits = sorted((m.start(), m.end()) for rx in triggers for m in rx.finditer(text))
    for ms, me in hits:
        s0, e0 = max(0, ms - margin), min(n, me + margin)
        s, e = _space_left(text, s0, margin), _space_right(text, e0, margin)
        win = Piece(s0 if s is None else s, e0 if e is None else e, s is None, e is None)
        if out and win.start <= out[-1].end:
            last = out[-1]
            right = win if win.end >= last.end else last
            out[-1] = Piece(last.start, right.end, last.cut_left, right.cut_right)
        else:
            out.append(win)
    return out


def chunk(text: str, piece: Piece, size: int, overlap: int) -> list[Piece]:
    """Cut ``piece`` into pieces of about ``size`` chars overlapping by ``overlap``, at
    whitespace where there is some, so that a span shorter than ``overlap`` lies whole in
    at least one piece without touching its cut edges."""
    start, end = piece.start, piece.end
    if end - start <= size:
        return [piece]
    pieces: list[Piece] = []
    s = start
    while True:
        if end - s <= size:
            e = end
        else:
            e = _space_left(text, s + size, size // 4) or s + size
            e = e if e > s + 2 * overlap else s + size
        left = piece.cut_left if s == start else True
        right = piece.cut_right if e == end else True
        pieces.append(Piece(s, e, left, right))
        if e >= end:
            return pieces
        nxt = _space_right(text, e - overlap, overlap // 2)
        s = nxt if nxt is not None and nxt < e else e - overlap


def pieces_for(
    text: str,
    triggers: list[re.Pattern[str]] | None,
    *,
    margin: int,
    size: int,
    overlap: int,
) -> list[Piece]:
    """Pieces of ``text`` for the analyzer: trigger windows (or the whole text when
    ``triggers`` is None), each cut into chunks of at most about ``size`` characters."""
    spans = [Piece(0, len(text))] if triggers is None else windows(text, triggers, margin)
    return [p for sp in spans for p in chunk(text, sp, size, overlap)]

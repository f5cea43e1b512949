"""Where the analyzer has to look: cheap candidate triggers, windows around them, chunks.

Presidio's pattern recognizers scan the whole text once per pattern; most documents of a
corpus hold no PII at all. One compiled trigger regex per entity type finds the few places a
recognizer could match, and only windows around them reach Presidio. Every recognizer match
contains a trigger match (the triggers are deliberately looser than the recognizers), windows
end at whitespace and reach ``margin`` characters past their trigger, so a match never leaves
its window. Long texts (and NER, which has no trigger) are cut into overlapping chunks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Looser than the recognizers they guard; see the module docstring.
TRIGGERS: dict[str, str] = {
    "EMAIL": r"@",
    "IP": r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:",
    "PHONE": r"\d(?:[^\w\n]{0,4}\d){6,}",
    "CREDIT_CARD": r"\d(?:[ \-]?\d){12,}",
    "US_SSN": r"\d{3}[ .\-]\d{2}[ .\-]\d{4}|\d{9}",
    "IBAN": r"[A-Z]{2}\d{2}",
    "URL": r"://|www\.|\w\.[a-zA-Z]{2}",
}


def trigger_regex(entities: list[str]) -> re.Pattern[str] | None:
    """One alternation of the triggers of the pattern entities (None: nothing to trigger)."""
    parts = [TRIGGERS[e] for e in entities if e in TRIGGERS]
    return re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None


@dataclass(frozen=True)
class Piece:
    """A slice ``text[start:end]`` to analyze. ``cut_left``/``cut_right``: the slice edge cuts
    through text another piece overlaps, so hits touching that edge belong to the other."""

    start: int
    end: int
    cut_left: bool = False
    cut_right: bool = False


def _space_left(text: str, i: int, limit: int) -> int | None:
    """The nearest i' <= i, at most ``limit`` back, that starts the text or follows
    whitespace; None if there is none."""
    stop = max(0, i - limit)
    while i > stop and not text[i - 1].isspace():
        i -= 1
    return i if i == 0 or text[i - 1].isspace() else None


def _space_right(text: str, i: int, limit: int) -> int | None:
    """The nearest i' >= i, at most ``limit`` ahead, that ends the text or is whitespace."""
    n = len(text)
    stop = min(n, i + limit)
    while i < stop and not text[i].isspace():
        i += 1
    return i if i == n or text[i].isspace() else None


def windows(text: str, trigger: re.Pattern[str], margin: int) -> list[Piece]:
    """Merged windows around trigger matches, widened to whitespace (an edge that finds no
    whitespace within ``margin`` more characters is marked as a cut)."""
    out: list[Piece] = []
    n = len(text)
    for m in trigger.finditer(text):
        s0, e0 = max(0, m.start() - margin), min(n, m.end() + margin)
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
    trigger: re.Pattern[str] | None,
    *,
    margin: int,
    size: int,
    overlap: int,
) -> list[Piece]:
    """Pieces of ``text`` for the analyzer: trigger windows (or the whole text when
    ``trigger`` is None), each cut into chunks of at most about ``size`` characters."""
    spans = [Piece(0, len(text))] if trigger is None else windows(text, trigger, margin)
    return [p for sp in spans for p in chunk(text, sp, size, overlap)]

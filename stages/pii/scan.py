"""The pattern recognizers over a whole batch: windows found per batch, Presidio called per
entity type on all of that type's windows at once.

Called per window, Presidio's own bookkeeping (the registry lookup, the NLP artifacts, the
context enhancer's deep copies, de-duplication) took about a third of its time on corpus text
(measured), and every recognizer read every window. Here each entity type's recognizer is
called once per ~256k characters: what its gate lets through of the windows (``gates.py``:
whole windows, or words of them), joined by a run of line breaks that no pattern can match
into or look across. What each window yields is exactly what Presidio finds in it alone:

- no pattern of the recognizers starts with, contains more than two of, or ends across a run
  of line breaks (their whitespace is at most ``\\s?`` next to a digit group), so no hit
  spans two parts and every hit lies where it would in the window alone;
- a line break before a part reads like the start of the text to every look-behind (``\\b``,
  ``(?<![\\w...])``) and after it like the end; the context the phone recognizer reads before a
  hit (48 characters at most) falls in the separator, which holds no word;
- Presidio's de-duplication only merges hits of one type that overlap, which two parts' hits
  never do; the other steps work hit by hit.

``tests/stages/pii/test_pii_parity.py`` checks this against plain Presidio on each window.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from corpusforge.stages.pii.entities import ENTITIES, FROM_PRESIDIO, PATTERN_LANG
from corpusforge.stages.pii.gates import focus
from corpusforge.stages.pii.spans import Span
from corpusforge.stages.pii.windows import Piece, Triggers, pieces_for

if TYPE_CHECKING:  # Presidio is imported in the stage's setup(), after no_torch's guard
    from presidio_analyzer import AnalyzerEngine, RecognizerResult

SEPARATOR = "\n" * 64
JOIN_CHARS = 256_000


@dataclass(frozen=True)
class Window:
    """One piece of one text of the batch, as the analyzer sees it."""

    row: int  # index into the batch's texts
    piece: Piece
    text: str  # texts[row][piece.start:piece.end]


@dataclass(frozen=True)
class Part:
    """What one recognizer is shown of one window: ``window.text[offset:offset + len(text)]``."""

    window: int  # index into the batch's windows
    offset: int
    text: str


@dataclass(frozen=True)
class ScanParams:
    margin: int
    size: int
    overlap: int
    score_threshold: float
    allow_list: list[str] | None
    join_chars: int = JOIN_CHARS  # characters per Presidio call (a longer window alone)


def batch_windows(
    texts: list[str | None], arrow_texts: pa.Array, triggers: Triggers, p: ScanParams
) -> list[Window]:
    """Every window of the batch, in text order then piece order. Only the triggers that
    RE2 finds in a text (one scan of the batch per trigger) are run on it in Python."""
    flags = triggers.flags(arrow_texts)
    out: list[Window] = []
    for row in np.flatnonzero(flags.any(axis=1)).tolist():
        text = texts[row]
        if not text:
            continue
        active = triggers.compiled_where(flags[row])
        for piece in pieces_for(text, active, margin=p.margin, size=p.size, overlap=p.overlap):
            out.append(Window(row, piece, text[piece.start : piece.end]))
    return out


def scan(
    engine: AnalyzerEngine, keys: list[str], windows: list[Window], p: ScanParams
) -> dict[int, list[Span]]:
    """Pattern spans per row, in the order the per-window analysis listed them (window by
    window, then as Presidio sorts its results), which ``resolve`` relies on for ties."""
    found: list[tuple[tuple[int, str, int, int, float], int, Span]] = []
    for key in keys:
        shown = focus(key)
        parts = [
            Part(k, start, w.text[start:end])
            for k, w in enumerate(windows)
            for start, end in shown(w.text)
        ]
        for group in _groups(parts, p.join_chars):
            found.extend(_analyze_group(engine, list(ENTITIES[key].presidio), windows, group, p))
    found.sort(key=lambda f: f[0])
    spans: dict[int, list[Span]] = {}
    for _, row, span in found:
        spans.setdefault(row, []).append(span)
    return spans


def _groups(parts: list[Part], limit: int) -> Iterator[list[Part]]:
    """Runs of parts whose joined text stays under ``limit`` (a longer part alone)."""
    group: list[Part] = []
    size = 0
    for part in parts:
        n = len(part.text) + len(SEPARATOR)
        if group and size + n > limit:
            yield group
            group, size = [], 0
        group.append(part)
        size += n
    if group:
        yield group


def _analyze_group(
    engine: AnalyzerEngine,
    types: list[str],
    windows: list[Window],
    group: list[Part],
    p: ScanParams,
) -> Iterator[tuple[tuple[int, str, int, int, float], int, Span]]:
    starts: list[int] = []
    pos = 0
    for part in group:
        starts.append(pos)
        pos += len(part.text) + len(SEPARATOR)
    results = engine.analyze(
        text=SEPARATOR.join(part.text for part in group),
        language=PATTERN_LANG,
        entities=types,
        score_threshold=p.score_threshold,
        allow_list=p.allow_list,
    )
    for r in results:
        at = bisect_right(starts, r.start) - 1
        part = group[at]
        if r.end - starts[at] > len(part.text):  # cannot happen (module docstring)
            raise RuntimeError(f"a {r.entity_type} match crossed a separator of the scan")
        w = windows[part.window]
        start, end = r.start - starts[at] + part.offset, r.end - starts[at] + part.offset
        if kept := _span(w, start, end, r):
            yield (part.window, r.entity_type, start, start - end, -r.score), w.row, kept


def _span(w: Window, start: int, end: int, r: RecognizerResult) -> Span | None:
    """The hit as a span of the text; None where it touches a cut edge (the overlapping
    piece has it whole) or is of a type not asked for."""
    n = len(w.text)
    if (w.piece.cut_left and start <= 1) or (w.piece.cut_right and end >= n - 1):
        return None
    key = FROM_PRESIDIO.get(r.entity_type)
    if key is None:
        return None
    return Span(w.piece.start + start, w.piece.start + end, key, r.score, 1)

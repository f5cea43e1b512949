"""The pattern path as it was before the batch scan (commit e6dd752), as a test oracle.

Every text is cut into windows around the matches of every trigger (character loops find the
whitespace edges), and each window goes alone through a plain Presidio ``AnalyzerEngine``
with all the stage's pattern recognizers and Presidio's default context enhancer. The spans
are then mapped back, cut-edge hits dropped, allow-listed domains removed and overlaps
resolved exactly as the stage does. ``test_pii_parity.py`` compares the stage with this.
"""

from __future__ import annotations

import re

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NoOpNlpEngine

from corpusforge.stages.pii.analyzer import pattern_recognizers
from corpusforge.stages.pii.entities import ENTITIES, FROM_PRESIDIO, PATTERN_LANG
from corpusforge.stages.pii.spans import Span, redact, resolve
from corpusforge.stages.pii.stage import PiiStage
from corpusforge.stages.pii.windows import TRIGGERS, Piece


def plain_analyzer(keys: list[str]) -> AnalyzerEngine:
    """Presidio's engine as it comes (default context enhancer), our pattern recognizers."""
    registry = RecognizerRegistry(
        recognizers=pattern_recognizers(keys), supported_languages=[PATTERN_LANG]
    )
    nlp = NoOpNlpEngine(models=[{"lang_code": PATTERN_LANG, "model_name": "no_op"}])
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=[PATTERN_LANG])


def _space_left(text: str, i: int, limit: int) -> int | None:
    stop = max(0, i - limit)
    while i > stop and not text[i - 1].isspace():
        i -= 1
    return i if i == 0 or text[i - 1].isspace() else None


def _space_right(text: str, i: int, limit: int) -> int | None:
    n = len(text)
    stop = min(n, i + limit)
    while i < stop and not text[i].isspace():
        i += 1
    return i if i == n or text[i].isspace() else None


def windows(text: str, triggers: list[re.Pattern[str]], margin: int) -> list[Piece]:
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


def pieces(text: str, stage: PiiStage) -> list[Piece]:
    p = stage.params
    keys = [k for k in p.entities if not ENTITIES[k].ner]
    triggers = [re.compile(rx) for rx in dict.fromkeys(rx for k in keys for rx in TRIGGERS[k])]
    return [
        c
        for w in windows(text, triggers, p.window_margin)
        for c in chunk(text, w, p.chunk_chars, p.chunk_overlap)
    ]


def detect(stage: PiiStage, engine: AnalyzerEngine, text: str | None) -> list[Span]:
    """The resolved spans of one text, each window analyzed alone by ``engine``."""
    if not text:
        return []
    p = stage.params
    keys = [k for k in p.entities if not ENTITIES[k].ner]
    types = [t for k in keys for t in ENTITIES[k].presidio]
    found: list[Span] = []
    for pc in pieces(text, stage):
        n = pc.end - pc.start
        hits = engine.analyze(
            text[pc.start : pc.end],
            language=PATTERN_LANG,
            entities=types,
            score_threshold=p.score_threshold,
            allow_list=p.allow_values or None,
        )
        for r in hits:
            if (pc.cut_left and r.start <= 1) or (pc.cut_right and r.end >= n - 1):
                continue
            key = FROM_PRESIDIO[r.entity_type]
            found.append(Span(pc.start + r.start, pc.start + r.end, key, r.score, 1))
    return resolve(stage._allowed(text, found))


def redacted(stage: PiiStage, text: str | None, spans: list[Span]) -> str | None:
    if text is None:
        return None
    actions = {k: stage.params.action(k) for k in stage.params.entities}
    return redact(text, spans, actions, stage.params.mask_char)

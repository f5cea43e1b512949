"""Detected spans: resolving overlaps, and rewriting the text per redaction policy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    key: str  # entity key (EMAIL, PHONE, ...)
    score: float
    rank: int = 1  # which recognizer family wins an overlap first: patterns 1, NER 0


def _strength(s: Span) -> tuple[int, float, int]:
    return (s.rank, s.score, s.end - s.start)


def resolve(spans: list[Span]) -> list[Span]:
    """Merge overlapping spans into one: the union of their extents (every character any
    recognizer flagged is redacted), labelled by the strongest: a validated pattern hit
    (a Luhn-checked card inside a "location") beats NER, then the higher score, then the
    longer span."""
    out: list[Span] = []
    best: Span | None = None
    for sp in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and sp.start < out[-1].end:
            last = out[-1]
            assert best is not None
            if _strength(sp) > _strength(best):
                best = sp
            out[-1] = Span(last.start, max(last.end, sp.end), best.key, best.score, best.rank)
        else:
            best = sp
            out.append(sp)
    return out


def redact(text: str, spans: list[Span], policy: dict[str, str], mask_char: str = "*") -> str:
    """Rewrite ``text``: ``tag`` -> ``<KEY>``, ``mask`` -> one mask char per character,
    ``drop`` -> tagged too (the row is rejected; its stored copy must not leak), ``keep``
    -> unchanged. ``spans`` must be resolved (sorted, disjoint)."""
    parts: list[str] = []
    pos = 0
    for sp in spans:
        action = policy[sp.key]
        if action == "keep":
            continue
        parts.append(text[pos : sp.start])
        parts.append(mask_char * (sp.end - sp.start) if action == "mask" else f"<{sp.key}>")
        pos = sp.end
    if not parts:
        return text
    parts.append(text[pos:])
    return "".join(parts)

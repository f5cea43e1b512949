"""Detected spans: resolving overlaps, and rewriting the text per redaction policy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    key: str  # entity key (EMAIL, PHONE, ...)
    score: float


def resolve(spans: list[Span]) -> list[Span]:
    """Merge overlapping spans into one: the union of their extents (every character any
    recognizer flagged is redacted), labelled by the best-scored one (ties: the longest)."""
    out: list[Span] = []
    best: Span | None = None
    for sp in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and sp.start < out[-1].end:
            last = out[-1]
            assert best is not None
            if (sp.score, sp.end - sp.start) > (best.score, best.end - best.start):
                best = sp
            out[-1] = Span(last.start, max(last.end, sp.end), best.key, best.score)
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

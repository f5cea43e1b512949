"""Faster equals of a spaCy tokenizer's affix searches, for the tokenizer copies the quality
stages' chunk memo learns from (:func:`.words.tokenizer_copies`).

Each reads the compiled pattern's parse tree (``re._parser``) and narrows where Python's regex
engine has to look, never what it finds: the same matches, checked against the original on
generated text by the tests. A pattern of another form keeps the tokenizer's own function.
"""

from __future__ import annotations

import re
from collections.abc import Callable


def suffix_width(search: Callable | None) -> int | None:
    """The most characters a spaCy suffix search (a compiled regex of ``$``-anchored
    alternatives) can match, runs of one character aside (:func:`tail_suffix_search`);
    None when the pattern is not of that form."""
    parsed = _suffix_alternatives(search)
    return None if parsed is None else parsed[1]


def _suffix_alternatives(search: Callable | None) -> tuple[re.Pattern, int, set[str]] | None:
    """(pattern, the longest bounded match, the characters of unbounded ``cc+$`` runs)."""
    pattern = getattr(search, "__self__", None)
    if not isinstance(pattern, re.Pattern):
        return None
    try:
        from re import _parser as sre_parse  # type: ignore[attr-defined]

        branches = _branches(sre_parse.parse(pattern.pattern, pattern.flags))
    except Exception:
        return None
    if branches is None:
        return None
    width, runs = 0, set()
    for b in branches:
        if b.getwidth()[1] < sre_parse.MAXREPEAT:
            width = max(width, b.getwidth()[1])
            continue
        run = _char_run(b)
        if run is None:
            return None
        runs.add(run)
    return (pattern, width, runs) if width else None


def tail_suffix_search(search: Callable | None) -> Callable | None:
    """A faster equal of a spaCy suffix search (a compiled regex of ``$``-anchored
    alternatives, searched from the start of the string): the same match length, searching
    only the last ``w`` characters, ``w`` the longest any alternative can match. Python's
    ``search(string, pos)`` still sees the characters before ``pos`` for lookbehinds. The
    leftmost match can only start further left through an alternative of unbounded length;
    the only kind allowed here is a run of one character ("\\.\\.+"), and the full search
    runs when the string has that character just before the window. A string whose last
    character no alternative ends with has no suffix (:func:`_last_chars`): about half of
    the searches spaCy makes while splitting code-like chunks. None when the pattern is not
    of that form (then the tokenizer keeps its own search)."""
    parsed = _suffix_alternatives(search)
    if parsed is None:
        return None
    pattern, width, runs = parsed
    ends = _last_chars(pattern)

    def tail_search(string: str):  # -> re.Match | None
        if ends is not None and (not string or string[-1] not in ends):
            return None  # no alternative can end with that character
        start = len(string) - width
        if start <= 0 or string[start - 1] in runs:
            return pattern.search(string)
        return pattern.search(string, start)

    return tail_search


def _last_chars(pattern: re.Pattern) -> frozenset[str] | None:
    """Every character a match of ``pattern`` can end with (the last one a suffix takes
    off a string); None when a match may be empty, the pattern is not read here or those
    characters are too many to list."""
    ranges = _edge_ranges(pattern, last=True)
    if ranges is None or sum(hi - lo + 1 for lo, hi in ranges) > 100_000:
        return None
    return frozenset(chr(c) for lo, hi in ranges for c in range(lo, hi + 1))


def _char_run(branch) -> str | None:
    """``c`` for an alternative ``cc+$`` (a character, more of it, the end), else None."""
    items = list(branch)
    if len(items) != 3:
        return None
    (op0, c), (op1, rep), (op2, at) = items
    if (str(op0), str(op1), str(op2), str(at)) != ("LITERAL", "MAX_REPEAT", "AT", "AT_END"):
        return None
    low, _, sub = rep
    return chr(c) if low == 1 and list(sub) == [(op0, c)] else None


def _branches(tree) -> list | None:
    """The alternatives of a parsed ``(?:a$|b$|...)`` pattern."""
    for op, av in tree:
        if str(op) == "BRANCH":
            return av[1]
        if str(op) == "SUBPATTERN":
            return _branches(av[-1])
    return None


def candidate_finditer(finditer: Callable | None) -> Callable | None:
    """A faster equal of a spaCy infix search (``finditer`` of a compiled regex): the same
    matches, tried only where one can start. Every match of the pattern starts with one of
    the characters :func:`first_chars` reads off it; a scan for the next of those (a
    character class, which the regex engine skips to quickly) leaves ``match`` at that
    position to try the whole pattern, as ``finditer`` would there (lookbehinds still see
    the characters before it). None when the pattern is not of a form read here (then the
    tokenizer keeps its own search)."""
    pattern = getattr(finditer, "__self__", None)
    starts = first_chars(pattern) if isinstance(pattern, re.Pattern) else None
    if starts is None:
        return None
    match, next_start = pattern.match, starts.search

    def find_all(string: str) -> list[re.Match]:
        found: list[re.Match] = []
        pos = 0
        while (at := next_start(string, pos)) is not None:
            hit = match(string, at.start())
            if hit is None:
                pos = at.start() + 1
            else:
                found.append(hit)
                pos = hit.end()  # never empty: first_chars refuses patterns that may be
        return found

    return find_all


def first_chars(pattern: re.Pattern) -> re.Pattern | None:
    """A character class of every character a match of ``pattern`` can start with, or None
    when a match may be empty or the pattern holds what is not read here (categories,
    negated sets, backreferences...) or flags (IGNORECASE...)."""
    ranges = _edge_ranges(pattern, last=False)
    if ranges is None:
        return None
    parts = [re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"
             for lo, hi in sorted(ranges)]  # fmt: skip
    return re.compile("[" + "".join(parts) + "]")


def _edge_ranges(pattern: re.Pattern, last: bool) -> set[tuple[int, int]] | None:
    """The code point ranges every match of ``pattern`` starts (``last``: ends) with; None
    when a match may be empty, or for flags or constructs :func:`_edge` does not read."""
    if not isinstance(pattern.pattern, str) or pattern.flags & ~re.UNICODE:
        return None
    try:
        from re import _parser as sre_parse  # type: ignore[attr-defined]

        ranges, nullable = _edge(sre_parse.parse(pattern.pattern, pattern.flags), last)
    except (_Unread, re.error):
        return None
    return None if nullable or not ranges else ranges


class _Unread(Exception):
    """A regex construct :func:`_edge` does not read."""


_ZERO_WIDTH = ("ASSERT", "ASSERT_NOT", "AT")
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


def _edge(items, last: bool = False) -> tuple[set[tuple[int, int]], bool]:
    """(code point ranges a match of the sequence ``items`` can start with, or end with
    when ``last``; whether it can match the empty string)."""
    ranges: set[tuple[int, int]] = set()
    for op, av in reversed(list(items)) if last else items:
        name = str(op)
        if name in _ZERO_WIDTH:  # lookarounds and anchors consume nothing
            continue
        if name == "LITERAL":
            return ranges | {(av, av)}, False
        if name == "IN":
            return ranges | _set_ranges(av), False
        if name == "BRANCH":
            nullable = False
            for branch in av[1]:
                sub, empty = _edge(branch, last)
                ranges |= sub
                nullable = nullable or empty
        elif name == "SUBPATTERN":
            sub, nullable = _edge(av[-1], last)
            ranges |= sub
        elif name in _REPEATS:
            sub, empty = _edge(av[2], last)
            ranges |= sub
            nullable = empty or av[0] == 0
        else:
            raise _Unread(name)
        if not nullable:
            return ranges, False
    return ranges, True


def _set_ranges(items) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for op, av in items:
        if str(op) == "LITERAL":
            out.add((av, av))
        elif str(op) == "RANGE":
            out.add(av)
        else:  # NEGATE, CATEGORY (\d, \w ...): not read
            raise _Unread(str(op))
    return out

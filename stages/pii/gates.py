"""What of a window each recognizer sees: a cheap necessary condition per entity type, and
for types whose hits never hold whitespace, only the words that meet it.

A window exists because some trigger matched in it, but most windows can hold only one or
two kinds of PII: a run of digits cannot be an e-mail address, ``12:30:45`` cannot be a card.
Each gate below is implied by every hit its recognizer can report, so a recognizer that is not
shown a window whose gate fails would have found nothing in it: decisions do not change.

E-mail addresses, IP addresses and URLs hold no whitespace, and their patterns look at most at
``\\b`` or one character around a hit (which whitespace satisfies as the edge of a text does):
their recognizers see only the whitespace-delimited words of the window in which the gate
matches, which hold all of their hits, each found exactly as in the whole window.

Presidio runs its patterns with the ``regex`` module, whose ``\\d`` knows digits of newer
Unicode versions than Python's ``re``: a gate with ``\\d`` is a ``regex`` pattern too. Gates
of ASCII digits, punctuation and hex letters use the faster ``re``: no other character folds
to one of those, so with Presidio's case-insensitive flag or without, both engines agree.

Why each gate holds (see ``recognizers.py`` and Presidio's predefined recognizers):

- EMAIL: Presidio's pattern has a literal ``[@]``.
- IP: every IPv4 form holds four dotted ``[0-9]`` groups; every IPv6 form holds ``::`` or a
  hex group between two colons.
- PHONE: a hit must hold 7 to 15 digits (``validate_result``), and each of them is a ``\\d``
  of the phone patterns (or the literal 0 of ``(0)``).
- CREDIT_CARD: 12 to 19 digits with single space or hyphen separators in every pattern.
- US_SSN: nine ``[0-9]`` with at most one separator (``-``, space, dot) between two of them.
- IBAN: two letters and two digits start every candidate of ``_IBAN`` (``re``, no flags).
- URL: every top-level domain of the pattern is a dot and at least two letters.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import regex

from corpusforge.stages.pii.windows import next_space, token_start

Pattern = re.Pattern[str] | regex.Pattern[str]
# the spans (start, end) of a window a recognizer is shown; empty: none of it
Focus = Callable[[str], list[tuple[int, int]]]

_GATES: dict[str, list[Pattern]] = {
    "EMAIL": [re.compile("@")],
    "IP": [re.compile(r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]"), re.compile(r":[0-9a-fA-F]{0,4}:")],
    "CREDIT_CARD": [regex.compile(r"\d(?:[ \-]?\d){11}")],
    "US_SSN": [re.compile(r"[0-9](?:[- .]?[0-9]){8}")],
    "IBAN": [re.compile(r"[A-Za-z]{2}\d{2}")],
    "URL": [regex.compile(r"\.\w\w")],
}
# anchored: one pass over the window, never a retry from every position
_SEVEN_DIGITS = regex.compile(r"(?:\D*\d){7}")
# hits without whitespace, and patterns that see at most one character around a hit
_WORD_TYPES = frozenset({"EMAIL", "IP", "URL"})


def focus(entity: str) -> Focus:
    """What of a window the recognizer of ``entity`` is shown (all of it for a type this
    module has no gate for)."""
    if entity == "PHONE":
        return lambda text: [(0, len(text))] if _SEVEN_DIGITS.match(text) else []
    gates = _GATES.get(entity)
    if gates is None:
        return lambda text: [(0, len(text))]
    if entity in _WORD_TYPES:
        return lambda text: _words_with(text, gates)
    return lambda text: [(0, len(text))] if any(g.search(text) for g in gates) else []


def _words_with(text: str, gates: list[Pattern]) -> list[tuple[int, int]]:
    """The whitespace-delimited words of ``text`` in which a gate matches, in order. A gate
    match holds no whitespace, so it lies in one word; every word with a match holds one
    that ``finditer`` finds."""
    starts = sorted(m.start() for g in gates for m in g.finditer(text))
    out: list[tuple[int, int]] = []
    for s in starts:
        if out and s < out[-1][1]:
            continue  # in the word already taken
        lo = out[-1][1] if out else 0
        out.append((token_start(text, s, lo), next_space(text, s)))
    return out

"""Which recognizers a window goes to: one cheap necessary condition per entity type.

A window exists because some trigger matched in it, but most windows can hold only one or
two kinds of PII: a run of digits cannot be an e-mail address, ``12:30:45`` cannot be a card.
Each gate below is implied by every hit its recognizer can report, so a recognizer that is not
shown a window whose gate fails would have found nothing in it: decisions do not change.

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

Gate = Callable[[str], bool]


def _found(*patterns: re.Pattern[str] | regex.Pattern[str]) -> Gate:
    return lambda text: any(p.search(text) is not None for p in patterns)


def _at_least_digits(n: int) -> Gate:
    # anchored: one pass over the window, never a retry from every position
    compiled = regex.compile(rf"(?:\D*\d){{{n}}}")
    return lambda text: compiled.match(text) is not None


GATES: dict[str, Gate] = {
    "EMAIL": lambda text: "@" in text,
    "IP": _found(
        re.compile(r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]"), re.compile(r":[0-9a-fA-F]{0,4}:")
    ),
    "PHONE": _at_least_digits(7),
    "CREDIT_CARD": _found(regex.compile(r"\d(?:[ \-]?\d){11}")),
    "US_SSN": _found(re.compile(r"[0-9](?:[- .]?[0-9]){8}")),
    "IBAN": _found(re.compile(r"[A-Za-z]{2}\d{2}")),
    "URL": _found(regex.compile(r"\.\w\w")),
}


def gate(entity: str) -> Gate:
    """The gate of a pattern entity (one without a gate goes to its recognizer always)."""
    return GATES.get(entity, _always)


def _always(text: str) -> bool:
    return True

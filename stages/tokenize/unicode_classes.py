"""Unicode classes exactly as the reference tokenizer's regex engine sees them.

HF ``tokenizers`` matches pre-tokenization patterns with Oniguruma, whose Unicode tables are
older than those of Python's ``regex`` module: about 17k code points assigned since (letters,
digits) are ``\\p{L}``/``\\p{N}`` for ``regex`` but not for Oniguruma, so the same pattern would
split new scripts differently. For exact parity we ask the installed ``tokenizers`` once which
code points its ``\\p{L}``, ``\\p{N}`` and ``\\s`` match (one pass over all code points, ~3 s),
cache the ranges per ``tokenizers`` version, and spell them out as explicit classes.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from corpusforge.stages.machine_cache import build_once, cache_dir

CLASSES = (r"\p{L}", r"\p{N}", r"\s")
_SEPARATOR = "\x00"  # in none of the probed classes


def _probe(cls: str) -> list[tuple[int, int]]:
    """Code point ranges that Oniguruma (inside ``tokenizers``) puts in ``cls``."""
    from tokenizers import Regex, pre_tokenizers

    chars = [chr(i) for i in range(0x110000) if not 0xD800 <= i < 0xE000]
    text = _SEPARATOR.join(chars)
    split = pre_tokenizers.Split(Regex(cls + "+"), behavior="isolated")
    members = sorted(
        ord(piece)
        for piece, _ in split.pre_tokenize_str(text)
        if len(piece) == 1 and piece != _SEPARATOR
    )
    ranges: list[tuple[int, int]] = []
    for cp in members:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return ranges


@cache
def reference_classes() -> dict[str, list[tuple[int, int]]]:
    """``{class: [(first, last), ...]}`` for :data:`CLASSES`, probed once and cached on disk."""
    import tokenizers

    path = cache_dir() / f"onig_classes_tokenizers_{tokenizers.__version__}.json"
    probed: dict[str, list[tuple[int, int]]] = {}

    def write(tmp: Path) -> None:
        probed.update({cls: _probe(cls) for cls in CLASSES})
        tmp.write_text(json.dumps(probed))

    if not build_once(path, write):  # a read-only cache only costs the probe next time
        return probed or {cls: _probe(cls) for cls in CLASSES}
    if probed:  # this process built it
        return probed
    data = json.loads(path.read_text())
    return {k: [tuple(r) for r in v] for k, v in data.items()}


def class_body(ranges: list[tuple[int, int]]) -> str:
    """The inside of a regex character class matching exactly ``ranges``."""

    def esc(cp: int) -> str:
        return f"\\U{cp:08x}"

    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)


def pin_unicode_classes(pattern: str) -> str:
    """Rewrite ``\\p{L}``, ``\\p{N}`` in ``pattern`` as explicit classes (inside or outside ``[]``).

    ``\\s`` is left as is: both engines agree on it (checked by the tests).
    """
    bodies = {k: class_body(v) for k, v in reference_classes().items() if k != r"\s"}
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            token = pattern[i : i + 5]
            if token in bodies:
                out.append(bodies[token] if in_class else f"[{bodies[token]}]")
                i += 5
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        out.append(ch)
        i += 1
    return "".join(out)

"""The byte-level alphabet: GPT-2's reversible map from the 256 bytes to printable characters."""

from __future__ import annotations

from functools import cache


@cache
def bytes_to_unicode() -> dict[int, str]:
    """Byte -> character, as byte-level BPE vocabularies spell their tokens.

    Printable Latin-1 bytes map to themselves; the others (controls, space, ...) are shifted to
    code points from 256 upward, in byte order. This is the published GPT-2 convention that
    every byte-level ``tokenizer.json`` uses.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table: dict[int, str] = {b: chr(b) for b in printable}
    shift = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shift)
            shift += 1
    return dict(sorted(table.items()))


@cache
def unicode_to_bytes() -> dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}

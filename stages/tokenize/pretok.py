"""Pre-tokenization of a byte-level BPE ``tokenizer.json``, on CPU with the ``regex`` module.

Splits a text the way HF ``tokenizers`` does before BPE: first around added tokens (special
tokens such as ``<|endoftext|>`` become their id), then each remaining segment by the
pre-tokenizer's pattern (GPT-2's for ``ByteLevel(use_regex=true)``, or a ``Split`` pattern
followed by ``ByteLevel(use_regex=false)`` as in cl100k- and Llama-3-style files). Anything else
(normalizers, Metaspace, Digits, added tokens with strip options) raises
:class:`UnsupportedTokenizer`; the HF path handles those.
"""

from __future__ import annotations

from typing import Any

import regex

from corpusforge.stages.tokenize.unicode_classes import pin_unicode_classes

GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


class UnsupportedTokenizer(ValueError):
    """The tokenizer.json uses a feature the array BPE path does not implement."""


def byte_level_options(spec: dict[str, Any]) -> tuple[str | None, bool]:
    """(pattern or None, add_prefix_space) of a supported pre_tokenizer spec."""
    if spec is None:
        raise UnsupportedTokenizer("no pre_tokenizer: not a byte-level BPE")
    kind = spec.get("type")
    if kind == "ByteLevel":
        return (
            GPT2_PATTERN if spec.get("use_regex", True) else None,
            bool(spec.get("add_prefix_space", False)),
        )
    if kind == "Sequence":
        steps = spec.get("pretokenizers", [])
        if (
            len(steps) == 2
            and steps[0].get("type") == "Split"
            and steps[1].get("type") == "ByteLevel"
            and not steps[1].get("use_regex", True)
            and steps[0].get("behavior") == "Isolated"
            and not steps[0].get("invert", False)
            and "Regex" in steps[0].get("pattern", {})
        ):
            return steps[0]["pattern"]["Regex"], bool(steps[1].get("add_prefix_space", False))
    raise UnsupportedTokenizer(f"pre_tokenizer {kind!r} with this layout is not supported")


def added_tokens(tokenizer_json: dict[str, Any]) -> dict[str, int]:
    """Content -> id of the added (special) tokens, refusing options we do not implement."""
    out: dict[str, int] = {}
    for tok in tokenizer_json.get("added_tokens", []):
        if tok.get("lstrip") or tok.get("rstrip") or tok.get("single_word"):
            raise UnsupportedTokenizer("added tokens with strip/single_word options")
        out[tok["content"]] = int(tok["id"])
    return out


class PreTokenizer:
    """Text -> list of pieces (``str``); special-token pieces are listed in ``special_ids``."""

    def __init__(self, tokenizer_json: dict[str, Any]) -> None:
        if tokenizer_json.get("normalizer") is not None:
            raise UnsupportedTokenizer("normalizers are not supported by the array path")
        pattern, self.add_prefix_space = byte_level_options(tokenizer_json.get("pre_tokenizer"))
        self._split = regex.compile(pin_unicode_classes(pattern)) if pattern else None
        if self._split is not None and self._split.search("") is not None:
            # Oniguruma and `regex` step past empty matches differently: refuse, not diverge.
            raise UnsupportedTokenizer("a pre-tokenizer pattern that matches the empty string")
        self.special_ids = added_tokens(tokenizer_json)
        # Leftmost match, longest first at a position: what HF's added-vocabulary matcher does.
        contents = sorted(self.special_ids, key=len, reverse=True)
        self._specials = (
            regex.compile("(" + "|".join(regex.escape(c) for c in contents) + ")")
            if contents
            else None
        )

    def _split_segment(self, segment: str, out: list[str]) -> None:
        if not segment:
            return
        if self.add_prefix_space and not segment.startswith(" "):
            segment = " " + segment
        if self._split is None:
            out.append(segment)
            return
        pieces = self._split.findall(segment)
        if sum(map(len, pieces)) == len(segment):
            out.extend(pieces)
            return
        # The pattern does not cover every character: unmatched gaps are pieces too (Isolated).
        pos = 0
        for m in self._split.finditer(segment):
            if m.start() > pos:
                out.append(segment[pos : m.start()])
            if m.end() > m.start():
                out.append(m.group())
            pos = m.end()
        if pos < len(segment):
            out.append(segment[pos:])

    def pieces(self, text: str) -> list[str]:
        out: list[str] = []
        if self._specials is None or not self._specials.search(text):
            self._split_segment(text, out)
            return out
        for i, part in enumerate(self._specials.split(text)):
            if i % 2:  # the captured separators are the added tokens
                out.append(part)
            else:
                self._split_segment(part, out)
        return out

"""Decisions on top of fastText's top-k: script consistency and lingua for what it does better.

fastText's character n-grams cannot tell close languages apart on short text (Bosnian,
Croatian and Serbian; Malay and Indonesian; Bokmål, Nynorsk and Danish; Czech and Slovak;
Afrikaans and Dutch), and lid.176 has no label for eight African languages. lingua
(``lingua-language-detector``, Rust, models inside the wheel, offline) is trained for
exactly these distinctions. Modes:

- ``fasttext``: the model's top label, nothing else (datatrove's decision).
- ``fast`` (default): the top label must be written in the text's script (else the next label
  of the top-k that is); when it falls in a close group, lingua restricted to that group's
  languages picks the member. Only documents in a close group pay for lingua.
- ``accurate``: as ``fast``, and when fastText's top probability is below ``LOW_CONFIDENCE``,
  lingua over all its 75 languages re-ranks: fastText keeps the probability mass it gives to
  languages lingua does not know (so lingua cannot pull a language it has never seen into one
  it knows), and lingua splits the rest among its own languages.

Scores stay probabilities: a group decision scores the group's fastText mass times lingua's
confidence in the member; an ``accurate`` re-rank scores the blended probability.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from corpusforge.stages.classify.lid_scripts import (
    MIN_SHARE,
    SCRIPTS,
    dominant_script,
    script_counts,
    script_share,
)

Mode = Literal["fasttext", "fast", "accurate"]

# Close groups by ISO 639-1 code ("sh" is lid.176's Serbo-Croatian: it triggers, never wins).
GROUPS: tuple[tuple[str, ...], ...] = (
    ("bs", "hr", "sr", "sh"),
    ("id", "ms"),
    ("nb", "nn", "da"),
    ("cs", "sk"),
    ("af", "nl"),
)
SCRIPT_CHECK_BELOW = 0.9  # above this, fastText is not wrong about the script (measured)
GROUP_SURE = 0.9  # fastText this sure, with no group-mate second: lingua is not asked
LOW_CONFIDENCE = 0.7  # accurate mode: re-rank below this top probability
FASTTEXT_WEIGHT = 0.4  # accurate mode: share of fastText's own probability in the blend
# model labels with another ISO 639-1 spelling than lingua's
_KEY_ALIASES = {"no": "nb"}


@lru_cache(maxsize=1)
def _lingua_languages() -> dict[str, object]:
    from lingua import Language

    return {lang.iso_code_639_1.name.lower(): lang for lang in Language.all()}


@lru_cache(maxsize=16)
def _detector(codes: tuple[str, ...] | None):  # -> lingua.LanguageDetector
    """A lingua detector for ``codes`` (None: all languages); models load lazily, once per
    process, and are shared between detectors."""
    from lingua import LanguageDetectorBuilder

    if codes is None:
        return LanguageDetectorBuilder.from_all_languages().build()
    langs = _lingua_languages()
    return LanguageDetectorBuilder.from_languages(*(langs[c] for c in codes)).build()


def sample(text: str, max_chars: int) -> str:
    """Up to ``max_chars`` of ``text``: start, middle and end windows of a longer text."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    w = max_chars // 3
    mid = len(text) // 2
    return " ".join((text[:w], text[mid - w // 2 : mid + (w - w // 2)], text[-w:]))


@dataclass
class Ensemble:
    """Turns fastText's top-k for one text into the final (label, score)."""

    mode: Mode
    keys: dict[str, str]  # model label -> ISO 639-1 key (no -> nb)
    lingua_chars: int = 500

    def __post_init__(self) -> None:
        known = set(_lingua_languages()) if self.mode != "fasttext" else set()
        self._label_of = {}  # key -> model label (lingua-only languages: the key itself)
        for label, key in self.keys.items():
            self._label_of.setdefault(key, label)
        self._group_of: dict[str, tuple[str, ...]] = {}
        for g in GROUPS:
            members = tuple(c for c in g if c in known)
            if len(members) > 1:
                self._group_of.update(dict.fromkeys(g, members))
        self._known = known

    def label(self, key: str) -> str:
        return self._label_of.get(key, key)

    def settles(self, label: str) -> bool:
        """True when ``decide`` returns ``label`` and its probability unchanged whenever the
        model gives it at least ``SCRIPT_CHECK_BELOW`` (no script check, no close group)."""
        return self.mode == "fasttext" or self._group_of.get(self._key(label)) is None

    def decide(self, text: str, labels: list[str], probs: list[float]) -> tuple[str, float]:
        best, score = labels[0], min(float(probs[0]), 1.0)
        if self.mode == "fasttext":
            return best, score
        script = None
        if score < SCRIPT_CHECK_BELOW:
            counts = script_counts(text)
            script = SCRIPTS[int(counts.argmax())] if counts.any() else None
            if script_share(best, counts) < MIN_SHARE:
                for lab, p in zip(labels, probs, strict=True):
                    if script_share(lab, counts) >= MIN_SHARE:
                        best, score = lab, min(float(p), 1.0)
                        break
        if self.mode == "accurate" and score < LOW_CONFIDENCE:
            latin_sr = (
                self.keys.get(best, best) == "sr" and (script or dominant_script(text)) == "Latn"
            )
            if not latin_sr:  # see the Serbian note below
                return self._rerank(text, labels, probs)
        group = self._group_of.get(self.keys.get(best, best))
        if group is None:
            return best, score
        if "sr" in group:
            # lingua's Serbian is Cyrillic only: it decides Bosnian vs Croatian in Latin
            # script and leaves fastText's Latin "sr" alone (measured on transliterated
            # Serbian: overriding it loses more Serbian than it wins Bosnian and Croatian)
            script = script or dominant_script(text)
            if script == "Cyrl":
                return self.label("sr"), score
            if self.keys.get(best, best) == "sr":
                return best, score
            group = tuple(c for c in group if c in ("bs", "hr"))
        return self._in_group(text, group, labels, probs)

    def _in_group(
        self, text: str, group: tuple[str, ...], labels: list[str], probs: list[float]
    ) -> tuple[str, float]:
        if probs[0] >= GROUP_SURE and (len(labels) < 2 or self._key(labels[1]) not in group):
            return labels[0], min(float(probs[0]), 1.0)
        mass = sum(p for lab, p in zip(labels, probs, strict=True) if self._key(lab) in group)
        confs = _detector(group).compute_language_confidence_values(sample(text, self.lingua_chars))
        if not confs:
            return labels[0], min(float(probs[0]), 1.0)
        top = confs[0]
        key = top.language.iso_code_639_1.name.lower()
        return self.label(key), min(mass * top.value, 1.0)

    def _rerank(self, text: str, labels: list[str], probs: list[float]) -> tuple[str, float]:
        confs = _detector(None).compute_language_confidence_values(sample(text, self.lingua_chars))
        scores: dict[str, float] = {}
        known_mass = max(0.0, 1.0 - sum(probs))  # beyond the top-k: counted as lingua's
        for lab, p in zip(labels, probs, strict=True):
            key = self._key(lab)
            if key in self._known or key == "sh":
                known_mass += p
                scores[key] = scores.get(key, 0.0) + FASTTEXT_WEIGHT * p
            else:
                scores[key] = scores.get(key, 0.0) + p
        for c in confs:
            key = c.language.iso_code_639_1.name.lower()
            scores[key] = scores.get(key, 0.0) + (1 - FASTTEXT_WEIGHT) * known_mass * c.value
        scores.pop("sh", None)
        key = max(scores, key=scores.__getitem__)
        return self.label(key), min(scores[key], 1.0)

    def _key(self, label: str) -> str:
        return self.keys.get(label, label)


def label_keys(labels: list[str], to_iso639_1: Callable[[str], str]) -> dict[str, str]:
    """Model label -> ISO 639-1 key (``to_iso639_1`` maps ``eng_Latn`` to ``en``)."""
    out = {}
    for lab in labels:
        key = to_iso639_1(lab)
        out[lab] = _KEY_ALIASES.get(key, key)
    return out

"""Presidio recognizers tuned for corpus text, registered into Presidio's own registry.

Presidio's defaults miss two things a pretraining corpus is full of: phone numbers in the
many national formats (its PhoneRecognizer scores every hit 0.4, below the usual 0.5
threshold, and only validates numbers that exist in 8 regions) and Mastercard 2-series cards
(its card regex excludes a leading 2). These recognizers are plain Presidio
``PatternRecognizer`` subclasses: Presidio runs them, validates their hits and resolves
duplicates like any other recognizer. The e-mail recognizer is Presidio's own, made offline.
"""

from __future__ import annotations

import re
from functools import lru_cache

import tldextract
from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import EmailRecognizer


@lru_cache(maxsize=1)
def offline_tld_extractor() -> tldextract.TLDExtract:
    """tldextract on its bundled Public Suffix List snapshot: no download, no cache dir."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer; the domain check uses the bundled suffix list only.

    The stock recognizer calls ``tldextract.extract``, whose default extractor fetches the
    Public Suffix List from the internet on first use.
    """

    def validate_result(self, pattern_text: str) -> bool:
        return offline_tld_extractor()(pattern_text).fqdn != ""


# ------------------------------------------------------------------------------ phones

_SEP = r"[ .\-/]"
_EXT = r"(?:\s?(?:x|ext\.?)\s?\d{1,6})?"
_END = r"(?![\w@]|[.\-/]\d)"  # not glued to a longer token (a date, an IP, a word)

# Shapes that are phone numbers in practice (score 0.6): an international prefix, a
# parenthesised area code, the North American 3-3-4, a national trunk 0, dashed groups.
_STRONG = [
    (
        "intl",
        r"(?<![\w+])(?:\+|00|\(\+\d{1,3}\)\s?)\d{0,3}(?:\s?\(0\)\s?|" + _SEP + r"?)"
        r"(?:\(\d{1,5}\)" + _SEP + r"?)?\d{1,12}(?:" + _SEP + r"{1,2}\d{1,10}){0,5}" + _EXT + _END,
    ),
    (
        "area",
        r"(?<![\w)])\(\d{2,5}\)\s?"
        + _SEP
        + r"?\s?\d{1,10}(?:"
        + _SEP
        + r"\d{1,10}){0,4}"
        + _EXT
        + _END,
    ),
    ("nanp", r"(?<![\w.\-])(?:1[ .\-])?\d{3}[.\-]\d{3}[.\-]\d{4}" + _EXT + _END),
    ("trunk0", r"(?<![\w+.\-/])0\d{1,5}(?:" + _SEP + r"\d{1,8}){1,5}" + _EXT + _END),
    ("dashed", r"(?<![\w.\-/])\d{2,4}[\-/]\d{2,4}[ \-/]\d{2,4}(?:[ \-]\d{2,4})?" + _EXT + _END),
    ("bare0", r"(?<![\w+.\-/])0\d{8,11}" + _END),
]
# Shapes that are often something else (a count, a table, an id): need a context word.
_WEAK = [
    ("bare", r"(?<![\w+.\-/])[1-9]\d{8,11}" + _END),
    ("spaced", r"(?<![\w+.\-/])\d{1,4}(?: \d{1,8}){1,4}" + _EXT + _END),
]
_CONTEXT = re.compile(
    r"phone|tel\b|tel\.|call|mobile|cell|fax|contact|reach|whatsapp|sms|hotline|dial|"
    r"telefon|handy|mobil|rufnummer|anruf|erreich|t[ée]l[ée]phone|t[ée]l\b|portable|"
    r"joindre|appel|tel[ée]fono|ll[áa]m|m[óo]vil|cellulare|chiam|telefoon|bellen|telefone|"
    r"telefonu|answer|телефон|звон|電話|전화|电话",
    re.IGNORECASE,
)
# Labels written after a number in contact lists ("555 1234 office", "...-Fax").
_SUFFIX = re.compile(
    r"[\s\-(,:]{0,3}(?:office|fax|mobile?|home|work|cell|tel|phone)", re.IGNORECASE
)
# Dates (with an optional time after them) and US SSNs look like dashed phone numbers.
_DATE = re.compile(
    r"(?<!\d)(?:(?:1[89]|20)\d\d([./\-])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])([./\-])(?:0?[1-9]|1[0-2])\2(?:\d\d|(?:1[89]|20)\d\d)"
    r"|(?:0?[1-9]|1[0-2])([./\-])(?:0?[1-9]|[12]\d|3[01])\3(?:\d\d|(?:1[89]|20)\d\d))(?!\d)"
)
_SSN = re.compile(r"\d{3}-\d{2}-\d{4}")
_EXT_RE = re.compile(r"\s?(?:x|ext\.?)\s?\d{1,6}$", re.IGNORECASE)

STRONG_SCORE = 0.6
WEAK_SCORE = 0.3
CONTEXT_CHARS = 48


class CorpusPhoneRecognizer(PatternRecognizer):
    """Phone numbers in the formats of many countries, scored by shape and context.

    Strong shapes score 0.6. Weak shapes (bare digit runs, space-separated groups) score 0.3
    and rise to 0.6 when a phone word (many languages) precedes them within 48 characters;
    Presidio's own context enhancer cannot do this without an NLP model's tokens.
    """

    def __init__(self, supported_language: str = "en") -> None:
        patterns = [Pattern(n, r, STRONG_SCORE) for n, r in _STRONG]
        patterns += [Pattern(n, r, WEAK_SCORE) for n, r in _WEAK]
        super().__init__(
            supported_entity="PHONE_NUMBER",
            patterns=patterns,
            supported_language=supported_language,
            name="CorpusPhoneRecognizer",
            global_regex_flags=re.IGNORECASE,
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        body = _EXT_RE.sub("", pattern_text)
        digits = sum(c.isdigit() for c in body)
        if not 7 <= digits <= 15 or _DATE.search(body) or _SSN.fullmatch(body.strip()):
            return False
        return None  # keep the pattern's score

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        for r in results:
            if r.score < STRONG_SCORE and (
                _CONTEXT.search(text, max(0, r.start - CONTEXT_CHARS), r.start)
                or _SUFFIX.match(text, r.end)
            ):
                r.score = STRONG_SCORE
        return results


# ------------------------------------------------------------------------------ cards


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class CorpusCardRecognizer(PatternRecognizer):
    """Payment card numbers: 13-19 digits, plain or grouped (4-4-4-4, 4-6-5), Luhn-checked.

    Unlike Presidio's card regex this accepts the Mastercard 2-series (2221-2720).
    """

    PATTERNS = [
        Pattern(
            "grouped",
            r"(?<![\w\-])[1-6]\d{3}([ \-])\d{4}\1\d{4}\1\d{1,7}(?![\w]|[\-]\d)",
            0.6,
        ),
        Pattern("amex_grouped", r"(?<![\w\-])3\d{3}([ \-])\d{6}\1\d{4,5}(?![\w]|[\-]\d)", 0.6),
        Pattern("plain", r"(?<![\w\-.])[1-6]\d{12,18}(?![\w]|[.\-]\d)", 0.5),
    ]

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity="CREDIT_CARD",
            patterns=self.PATTERNS,
            supported_language=supported_language,
            name="CorpusCardRecognizer",
        )

    def validate_result(self, pattern_text: str) -> bool:
        digits = "".join(c for c in pattern_text if c.isdigit())
        return 13 <= len(digits) <= 19 and luhn_ok(digits)

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
from presidio_analyzer.predefined_recognizers import (
    EmailRecognizer,
    IbanRecognizer,
    UsSsnRecognizer,
)


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
# Numbers that are something else when a word for it comes right before them (a licence, an
# account, an order) and no phone word does.
_NOT_PHONE = re.compile(
    r"licen[cs]e|licen[cs]ia|permis|f[üu]hrerschein|\bDL\b|passport|pass\b|account|acct|"
    r"routing|sort code|card|invoice|order|serial|tracking|policy|member|customer|ssn|"
    r"social security|tax|vat|\bid\b|isbn|patent|case|ticket|reference|ref\b",
    re.IGNORECASE,
)
_UNIT_BEFORE = re.compile(
    r"\b(?:suite|ste\.?|apt\.?|apartment|unit|flat|building|p\.?o\.? box)\s*$", re.IGNORECASE
)
# A street word right after the number: "1234 56 Oak Street" is an address.
_STREET_AFTER = re.compile(
    r"[ ,]{1,2}(?:[A-Z][a-z]+ ){0,3}(?:street|st\b|avenue|ave\b|road|rd\b|lane|ln\b|"
    r"drive|dr\b|boulevard|blvd|court|ct\b|way\b|place|pl\b|terrace|square|suite|apt)",
    re.IGNORECASE,
)
_CARD_SHAPE = re.compile(r"\d{4}([ \-])\d{4}\1\d{4}(?:\1\d{1,7})?")
NEG_CONTEXT_CHARS = 32
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
        body = _EXT_RE.sub("", pattern_text).strip()
        digits = sum(c.isdigit() for c in body)
        if not 7 <= digits <= 15 or _SSN.fullmatch(body) or _CARD_SHAPE.fullmatch(body):
            return False
        date = _DATE.search(body)
        # a date, or a date with a time after it; "02.27.96.63.08" (10 digits) is a phone
        if date and digits - sum(c.isdigit() for c in date.group()) < 4:
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
        kept = []
        for r in results:
            phone_word = _CONTEXT.search(text, max(0, r.start - CONTEXT_CHARS), r.start)
            if not phone_word and not text.startswith("+", r.start) and self._other(text, r):
                continue
            if r.score < STRONG_SCORE and (phone_word or _SUFFIX.match(text, r.end)):
                r.score = STRONG_SCORE
            kept.append(r)
        return kept

    @staticmethod
    def _other(text: str, r: RecognizerResult) -> bool:
        """A licence, account, order or street number rather than a phone number."""
        return bool(
            _NOT_PHONE.search(text, max(0, r.start - NEG_CONTEXT_CHARS), r.start)
            or in_address(text, r.start, r.end)
        )


def in_address(text: str, start: int, end: int) -> bool:
    """A number inside a street address: a unit word before it or a street word after it."""
    return bool(
        _UNIT_BEFORE.search(text[max(0, start - 16) : start]) or _STREET_AFTER.match(text, end)
    )


# ------------------------------------------------------------------------------ cards


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# Maestro is the only brand with 12-digit numbers (prefixes 50, 56-69, and 0604)
_MAESTRO12 = re.compile(r"5[06-9]|6|0604")


class CorpusCardRecognizer(PatternRecognizer):
    """Payment card numbers: 12-19 digits, plain or grouped (4-4-4, 4-4-4-4, 4-6-5),
    Luhn-checked; 12-digit numbers only with a Maestro prefix.

    Unlike Presidio's card regex this accepts the Mastercard 2-series (2221-2720) and
    12-digit Maestro cards.
    """

    PATTERNS = [
        Pattern(
            "grouped",
            r"(?<![\w\-])[1-6]\d{3}([ \-])\d{4}\1\d{4}(?:\1\d{1,7})?(?![\w]|[ \-]\d)",
            0.6,
        ),
        Pattern("amex_grouped", r"(?<![\w\-])3\d{3}([ \-])\d{6}\1\d{4,5}(?![\w]|[\-]\d)", 0.6),
        Pattern("plain", r"(?<![\w\-.])[1-6]\d{11,18}(?![\w]|[.\-]\d)", 0.5),
        Pattern("maestro_0604", r"(?<![\w\-.])0604\d{8,15}(?![\w]|[.\-]\d)", 0.5),
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
        if len(digits) == 12 and not _MAESTRO12.match(digits):
            return False
        return 12 <= len(digits) <= 19 and luhn_ok(digits)


# ------------------------------------------------------------------------------ IBAN


_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ \-]?[A-Za-z0-9]{4}){2,7}(?:[ \-]?[A-Za-z0-9]{1,3})?"
)


class CorpusIbanRecognizer(PatternRecognizer):
    """IBANs in any letter case (``gb82west12345698765432`` too), grouped or not, checked by
    Presidio's IBAN validation (country format and mod-97).

    Presidio's own recognizer is upper-case only, and made case-insensitive its pattern
    swallows a following word ("... 5822 Meine") and then fails the check; here every end
    of the candidate at a word boundary is tried, longest first.
    """

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity="IBAN_CODE",
            patterns=[Pattern("iban", _IBAN.pattern, 0.5)],
            supported_language=supported_language,
            name="CorpusIbanRecognizer",
        )
        self._check = IbanRecognizer(supported_language=supported_language)

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        out = []
        for m in _IBAN.finditer(text):
            for end in range(m.end(), m.start() + 14, -1):
                if not text[end - 1].isalnum() or (end < len(text) and text[end].isalnum()):
                    continue
                if self._check.validate_result(text[m.start() : end].upper()):
                    out.append(RecognizerResult("IBAN_CODE", m.start(), end, 1.0))
                    break
        return out


# ------------------------------------------------------------------------------ SSN


class CorpusSsnRecognizer(UsSsnRecognizer):
    """Presidio's US SSN recognizer, minus numbers that a street word follows or a unit word
    ("Suite", "Apt") precedes: "Suite 680 36 4022 Oakridge Lane" is an address."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_language=supported_language)

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        return [r for r in results if not in_address(text, r.start, r.end)]

"""C4's heuristics (Raffel et al. 2020) as stages: line cleaning + document rules, bad words.

``c4_quality`` follows datatrove's ``C4QualityFilter`` rule for rule (same order, thresholds,
reasons). Like C4 and datatrove, it removes the lines that fail a line rule from the text of the
documents it keeps (``remove_lines``, on by default), so its output text is datatrove's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
from datatrove.pipeline.filters.c4_filters import (
    CITATION_REGEX,
    ELLIPSIS,
    END_PUNCTUATION,
    POLICY_SUBSTRINGS,
)
from datatrove.utils.text import split_into_sentences

from corpusforge.pipeline.api import Resources, Stage, StageParams, register_stage, set_column
from corpusforge.schemas import Col
from corpusforge.stages.quality.common import (
    LANGUAGE_COLUMN,
    add_signals,
    apply_rejects,
    detail,
    in_scope,
    language_inputs,
    texts_of,
)
from corpusforge.stages.quality.words import chunk_words_for

I64 = pa.int64()


class C4QualityParams(StageParams):
    split_paragraph: bool = True  # lines are "\n" lines (C4); False: sentences
    remove_citations: bool = True
    filter_no_terminal_punct: bool = True
    min_num_sentences: int = 5  # -1 disables
    min_words_per_line: int = 3  # -1 disables
    max_word_length: int = 1000  # -1 disables
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True
    remove_lines: bool = True  # rewrite kept documents' text without the removed lines
    # languages the English keyword line rules (javascript, policy) apply to; None: all rows
    languages: list[str] | None = None
    tokenizer_language: str = "en"  # datatrove tokenizer used to count sentences


_SIGNALS = (
    "c4_lines",
    "c4_kept_lines",
    "c4_num_sentences",
    "c4_removed_long_word_lines",
    "c4_removed_no_punct_lines",
    "c4_removed_short_lines",
    "c4_removed_javascript_lines",
    "c4_removed_policy_lines",
)


@register_stage
class C4Quality(Stage):
    """C4 quality rules.

    Line rules (a failing line is dropped from the text): a word over ``max_word_length``
    characters, no terminal punctuation (or ends in "..."), fewer than ``min_words_per_line``
    words, mentions "javascript", holds a cookie/terms-of-use phrase. Wikipedia-style citation
    marks are removed. Document rules, reasons as datatrove's: ``lorem_ipsum``,
    ``curly_bracket`` (a kept line holds "{"), ``too_few_sentences`` (fewer than
    ``min_num_sentences`` sentences in the kept lines).

    Signals: ``c4_lines``, ``c4_kept_lines``, ``c4_num_sentences`` and
    ``c4_removed_{long_word,no_punct,short,javascript,policy}_lines``. As in datatrove, a
    document stops being scanned at the line that triggers ``lorem_ipsum`` or
    ``curly_bracket``, so its counts cover the lines up to that one.

    Language awareness: the "javascript" and policy-phrase line rules are English keyword
    matches; with ``languages`` set they apply only to rows whose ``language`` is listed.
    """

    name = "c4_quality"
    description = "C4 line cleaning and document rules"
    Params = C4QualityParams
    resources: ClassVar[Resources] = Resources(batch_size=512)

    def required_inputs(self) -> tuple[str, ...]:
        return language_inputs(self.params)

    def process(self, batch: pa.Table) -> pa.Table:
        p: C4QualityParams = self.params  # type: ignore[assignment]
        texts = texts_of(batch)
        scope = in_scope(batch, p.languages)
        cols: dict[str, list] = {k: [] for k in _SIGNALS}
        reasons: list[str | None] = []
        details: list[str | None] = []
        new_texts: list[str] = []
        for text, lang_ok in zip(texts, scope, strict=True):
            sig, reason, cleaned = c4_scan(p, text, lang_ok)
            for k in _SIGNALS:
                cols[k].append(sig[k])
            d = None
            if reason == "too_few_sentences":
                d = detail("num_sentences", sig["c4_num_sentences"], "<", p.min_num_sentences)
            reasons.append(reason)
            details.append(d)
            new_texts.append(cleaned if reason is None and p.remove_lines else text)
        batch = add_signals(batch, {k: (I64, v) for k, v in cols.items()})
        if p.remove_lines:
            old = batch.column(Col.TEXT)
            batch = set_column(batch, Col.TEXT, pa.array(new_texts, type=old.type))
        return apply_rejects(batch, reasons, details)


def c4_scan(p: C4QualityParams, text: str, lang_ok: bool) -> tuple[dict, str | None, str]:
    """One document through the C4 rules: (signals, reason or None, text of the kept lines)."""
    lang = p.tokenizer_language
    lines = text.splitlines() if p.split_paragraph else split_into_sentences(text, lang)
    sig = dict.fromkeys(_SIGNALS, 0)
    sig["c4_lines"] = len(lines)
    num_sentences = 0
    kept: list[str] = []
    reason: str | None = None
    for line in lines:
        line = line.strip()
        words = line.split()
        if p.max_word_length != -1 and any(len(w) > p.max_word_length for w in words):
            sig["c4_removed_long_word_lines"] += 1
            continue
        if p.remove_citations:
            line = CITATION_REGEX.sub("", line)
        if p.filter_no_terminal_punct and (
            not line.endswith(END_PUNCTUATION) or line.endswith(ELLIPSIS)
        ):
            sig["c4_removed_no_punct_lines"] += 1
            continue
        if len(words) < p.min_words_per_line:
            sig["c4_removed_short_lines"] += 1
            continue
        line_l = line.lower()
        if p.filter_lorem_ipsum and "lorem ipsum" in line_l:
            reason = "lorem_ipsum"
            break
        if lang_ok and p.filter_javascript and "javascript" in line_l:
            sig["c4_removed_javascript_lines"] += 1
            continue
        if p.filter_curly_bracket and "{" in line:
            reason = "curly_bracket"
            break
        if lang_ok and p.filter_policy and any(s in line_l for s in POLICY_SUBSTRINGS):
            sig["c4_removed_policy_lines"] += 1
            continue
        if p.min_num_sentences != -1:
            num_sentences += _sentence_count(line, lang) if p.split_paragraph else 1
        kept.append(line)
    sig["c4_kept_lines"] = len(kept)
    sig["c4_num_sentences"] = num_sentences
    if reason is None and num_sentences < p.min_num_sentences:
        reason = "too_few_sentences"
    return sig, reason, ("\n" if p.split_paragraph else " ").join(kept).strip()


def _sentence_count(line: str, lang: str) -> int:
    """datatrove's ``len(split_into_sentences(line))``, from memoized chunk tokens when the
    language's word tokenizer allows it (:class:`words.ChunkWords`)."""
    chunked = chunk_words_for(lang)
    count = chunked.sentence_count(line) if chunked is not None else None
    return len(split_into_sentences(line, lang)) if count is None else count


# --------------------------------------------------------------------------- bad words


class C4BadWordsParams(StageParams):
    # A word list file (one word or phrase per line), or a folder of per-language files named
    # by language code (the LDNOOBW layout: en, de, fr, ...). No list ships offline.
    badwords_path: str
    default_language: str = "en"  # for rows without a language (or no language column)
    # languages written without spaces between words: match anywhere, not on word boundaries
    no_word_boundary_languages: list[str] = ["ja", "th", "zh"]


@register_stage
class C4BadWords(Stage):
    """C4's bad-words rule: reject a document holding a listed word (case-insensitive).

    No bad-word list is available offline in an installed package (datatrove downloads the
    LDNOOBW lists at run time), so the user passes ``badwords_path``: one file for every row,
    or a folder of per-language files (``<folder>/<language>``). Rows in a language without a
    file pass. Reason ``document_removed_with_badwords`` (datatrove's); signal
    ``c4_badwords_found`` (bool, null where no list applies). The matched word is never
    written anywhere.
    """

    name = "c4_badwords"
    description = "C4 bad-words rule with a user-provided word list"
    Params = C4BadWordsParams
    stateful = True

    def setup(self) -> None:
        self._patterns: dict[str, re.Pattern[str] | None] = {}

    def _pattern(self, lang: str) -> re.Pattern[str] | None:
        p: C4BadWordsParams = self.params  # type: ignore[assignment]
        if lang not in self._patterns:
            root = Path(p.badwords_path)
            path = root / lang if root.is_dir() else root
            self._patterns[lang] = (
                _compile_badwords(path, lang in p.no_word_boundary_languages)
                if path.is_file()
                else None
            )
        return self._patterns[lang]

    def process(self, batch: pa.Table) -> pa.Table:
        p: C4BadWordsParams = self.params  # type: ignore[assignment]
        texts = texts_of(batch)
        if LANGUAGE_COLUMN in batch.column_names:
            langs = [lang or p.default_language for lang in batch[LANGUAGE_COLUMN].to_pylist()]
        else:
            langs = [p.default_language] * len(texts)
        found: list[bool | None] = []
        for text, lang in zip(texts, langs, strict=True):
            pattern = self._pattern(lang)
            found.append(None if pattern is None else pattern.search(text.lower()) is not None)
        batch = add_signals(batch, {"c4_badwords_found": (pa.bool_(), found)})
        reasons = ["document_removed_with_badwords" if f else None for f in found]
        return apply_rejects(batch, reasons, [None] * len(texts))


def _compile_badwords(path: Path, anywhere: bool) -> re.Pattern[str] | None:
    words = {w.strip().lower() for w in path.read_text(encoding="utf-8").splitlines()}
    words.discard("")
    if not words:
        return None
    # longest first so that a phrase wins over its own first word
    alternation = "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)))
    if anywhere:
        return re.compile(alternation)
    return re.compile(rf"(?:\W|^)(?:{alternation})(?:\W|$)")

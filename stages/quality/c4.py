"""C4's heuristics (Raffel et al. 2020) as stages: line cleaning + document rules, bad words.

``c4_quality`` follows datatrove's ``C4QualityFilter`` rule for rule (same order, thresholds,
reasons). Like C4 and datatrove, it removes the lines that fail a line rule from the text of the
documents it keeps (``remove_lines``, on by default), so its output text is datatrove's.

English batches run through the compiled kernel (:mod:`.c4kernel`) on the batch's words
(:mod:`.batchwords`); the per-document Python path (:func:`c4_scan`) takes the documents the
kernel leaves to it, sentence mode and other languages.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datatrove.pipeline.filters.c4_filters import (
    CITATION_REGEX,
    ELLIPSIS,
    END_PUNCTUATION,
    POLICY_SUBSTRINGS,
)
from datatrove.utils.text import split_into_sentences

from corpusforge.pipeline.api import (
    Resources,
    Stage,
    StageParams,
    as_array,
    register_stage,
    set_column,
)
from corpusforge.schemas import Col
from corpusforge.stages.no_torch import import_spacy_without_torch
from corpusforge.stages.quality.batchwords import batch_words
from corpusforge.stages.quality.c4kernel import PENDING, PYTHON, REASONS, SIGNALS, c4_batch
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


_SIGNALS = SIGNALS


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

    def setup(self) -> None:
        # the Python path's sentence split is datatrove's, which loads spaCy itself (the word
        # split goes through words.tokenizer_for, which guards already)
        import_spacy_without_torch()

    def process(self, batch: pa.Table) -> pa.Table:
        p: C4QualityParams = self.params  # type: ignore[assignment]
        scope = in_scope(batch, p.languages)
        run = compiled_c4(p, batch.column(Col.TEXT), scope)
        if run is None:
            run = _python_c4(p, texts_of(batch), scope, batch.column(Col.TEXT).type)
        sig, reasons, new_text = run
        details = [
            detail("num_sentences", n, "<", p.min_num_sentences)
            if r == "too_few_sentences"
            else None
            for r, n in zip(reasons, sig[:, 2].tolist(), strict=True)
        ]
        cols = {k: (I64, np.ascontiguousarray(sig[:, j])) for j, k in enumerate(_SIGNALS)}
        batch = add_signals(batch, cols)
        if p.remove_lines:
            batch = set_column(batch, Col.TEXT, new_text)
        return apply_rejects(batch, reasons, details)


def compiled_c4(
    p: C4QualityParams, texts: pa.ChunkedArray, scope: list[bool]
) -> tuple[np.ndarray, list[str | None], pa.Array] | None:
    """(signals, reasons, new text column) of the batch from the compiled kernel, the
    documents it leaves to Python done here; None where it does not apply (sentence mode,
    a language without the kernels)."""
    if not p.split_paragraph:
        return None
    bw = batch_words(texts, p.tokenizer_language)
    if bw is None:
        return None
    n = len(bw.offsets) - 1
    sig = np.zeros((n, len(_SIGNALS)), np.int64)
    reason = np.zeros(n, np.int64)
    status = np.zeros(n, np.int64)
    out = np.empty(max(len(bw.data), 1), np.uint8)
    out_off = np.zeros(n + 1, np.int64)
    longest = int(np.diff(bw.offsets).max(initial=0)) + 1  # lines of a document: fewer
    scratch = (np.empty(longest, np.uint8), np.empty(2 * longest, np.uint8),
               np.empty(longest, np.int64), np.empty(longest, np.int64),
               np.empty(longest, np.uint8))  # fmt: skip
    arena = np.empty(max(len(bw.data), 1), np.uint8)
    pending = np.empty((int(np.count_nonzero(bw.data == ord("["))) + 1, 3), np.int64)
    counts = np.zeros(2, np.int64)
    params = np.array([p.remove_citations, p.filter_no_terminal_punct, p.min_num_sentences,
                       p.min_words_per_line, p.max_word_length, p.filter_lorem_ipsum,
                       p.filter_javascript, p.filter_curly_bracket, p.filter_policy,
                       p.remove_lines], np.int64)  # fmt: skip
    c4_batch(bw.data, bw.offsets, bw.ok, bw.doc_off, bw.ws, bw.we, bw.table,
             np.array(scope, np.bool_), params, sig, reason, status, out, out_off, scratch,
             arena, pending, counts, np.zeros(2, np.int64))  # fmt: skip
    reasons = [REASONS[r] for r in reason.tolist()]
    new_text = pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(out_off), pa.py_buffer(out[: out_off[-1]])
    ).cast(texts.type)
    _count_pending(p, sig, arena, pending[: counts[1]])
    for d in np.flatnonzero(status == PENDING).tolist():
        if sig[d, 2] < p.min_num_sentences:
            reasons[d] = "too_few_sentences"
    redo = np.flatnonzero(status == PYTHON).tolist()
    restore = [d for d in np.flatnonzero(status == PENDING).tolist() if reasons[d] is not None]
    if redo or (restore and p.remove_lines):
        new_text = _python_docs(p, texts, scope, redo, restore, sig, reasons, new_text)
    return sig, reasons, new_text


def _count_pending(
    p: C4QualityParams, sig: np.ndarray, arena: np.ndarray, pending: np.ndarray
) -> None:
    """Add the sentences of the kept lines whose citations the kernel cut (their words are
    not the kernel's) to their documents' counts."""
    if p.min_num_sentences == -1:
        return
    for d, a, b in pending.tolist():
        sig[d, 2] += _sentence_count(arena[a:b].tobytes().decode("utf-8"), p.tokenizer_language)


def _python_docs(
    p: C4QualityParams,
    texts: pa.ChunkedArray,
    scope: list[bool],
    redo: list[int],
    restore: list[int],
    sig: np.ndarray,
    reasons: list[str | None],
    new_text: pa.Array,
) -> pa.Array:
    """The documents the kernel left to Python (``redo``) through :func:`c4_scan`, and the
    text of rejected ``restore`` documents put back; the new text column."""
    col = as_array(texts)
    rows = sorted(redo + restore)
    docs = texts_of(pa.table({Col.TEXT: col.take(rows)}))
    fixed: list[str] = []
    for d, text in zip(rows, docs, strict=True):
        if d in restore:
            fixed.append(text)
            continue
        row, reasons[d], cleaned = c4_scan(p, text, scope[d])
        sig[d] = [row[k] for k in _SIGNALS]
        fixed.append(cleaned if reasons[d] is None and p.remove_lines else text)
    mask = np.zeros(len(sig), np.bool_)
    mask[rows] = True
    return pc.replace_with_mask(new_text, pa.array(mask), pa.array(fixed, new_text.type))


def _python_c4(
    p: C4QualityParams, texts: list[str], scope: list[bool], text_type: pa.DataType
) -> tuple[np.ndarray, list[str | None], pa.Array]:
    """The Python path for every document (sentence mode, other languages)."""
    sig = np.zeros((len(texts), len(_SIGNALS)), np.int64)
    reasons: list[str | None] = []
    new_texts: list[str] = []
    for d, (text, lang_ok) in enumerate(zip(texts, scope, strict=True)):
        row, reason, cleaned = c4_scan(p, text, lang_ok)
        sig[d] = [row[k] for k in _SIGNALS]
        reasons.append(reason)
        new_texts.append(cleaned if reason is None and p.remove_lines else text)
    return sig, reasons, pa.array(new_texts, text_type)


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

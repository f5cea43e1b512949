"""Gopher quality and repetition rules (Rae et al. 2021, table A1) as Arrow-batch stages.

The rules, their order, thresholds and reasons are datatrove's ``GopherQualityFilter`` and
``GopherRepetitionFilter`` (0.10), so a document gets the same decision here as there; the
equivalence is tested. Words come from datatrove's word tokenizer (``quality_words``). What we
add: every signal is recorded as a column on every row (kept or rejected), and the repetition
n-gram statistics are computed with numpy (``quality_ngrams``), which is where datatrove spends
its time.
"""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np
import pyarrow as pa
from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS
from datatrove.pipeline.filters.gopher_repetition_filter import find_duplicates
from datatrove.utils.text import PUNCTUATION_SET

from corpusforge.pipeline.api import Resources, Stage, StageParams, register_stage
from corpusforge.schemas import Col
from corpusforge.stages.quality.batchwords import batch_words, stop_table
from corpusforge.stages.quality.common import (
    add_signals,
    apply_rejects,
    detail,
    in_scope,
    language_inputs,
    texts_of,
)
from corpusforge.stages.quality.linekernel import gopher_quality_batch
from corpusforge.stages.quality.ngrams import (
    JoinedWords,
    duplicated_ngram_chars,
    top_ngram_chars,
)
from corpusforge.stages.quality.repkernel import repetition_batch
from corpusforge.stages.quality.words import split_words

F64 = pa.float64()
I64 = pa.int64()

# str.translate deleting every punctuation character: a word is a "symbol word" when nothing
# is left (datatrove: no character outside PUNCTUATION_SET)
_DROP_PUNCT = {ord(c): None for c in PUNCTUATION_SET if len(c) == 1}


# --------------------------------------------------------------------------- Gopher quality


class GopherQualityParams(StageParams):
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    max_non_alpha_words_ratio: float | None = 0.8  # datatrove's name: min share of alpha words
    min_stop_words: int | None = 2
    stop_words: list[str] | None = None  # None: Gopher's English list
    # languages the word-length and stop-word rules apply to (None: every row)
    languages: list[str] | None = ["en"]
    tokenizer_language: str = "en"  # datatrove word tokenizer used to split words


@register_stage
class GopherQuality(Stage):
    """Gopher quality heuristics: document length, word length, symbols, bullets, stop words.

    Signals (on every row): ``gopher_word_count`` (all words), ``gopher_non_symbol_words``,
    ``gopher_mean_word_length``, ``gopher_hash_ratio``, ``gopher_ellipsis_ratio``,
    ``gopher_bullet_lines_ratio``, ``gopher_end_ellipsis_lines_ratio``,
    ``gopher_alpha_words_ratio``, ``gopher_stop_words`` (distinct stop words present).

    Reasons (datatrove's, first rule that fires): ``gopher_short_doc``, ``gopher_long_doc``,
    ``gopher_below_avg_threshold``, ``gopher_above_avg_threshold``, ``gopher_too_many_hashes``,
    ``gopher_too_many_ellipsis``, ``gopher_too_many_bullets``, ``gopher_too_many_end_ellipsis``,
    ``gopher_below_alpha_threshold``, ``gopher_enough_stop_words``.

    Language awareness: the mean-word-length and stop-word rules only apply to rows whose
    ``language`` is in ``languages`` (default English); other rows skip them (their signals are
    still recorded). Without a ``language`` column every row is taken as in scope. A threshold
    set to null (or 0) disables its rule, as in datatrove.
    """

    name = "gopher_quality"
    description = "Gopher quality heuristics (word counts, symbols, bullets, stop words)"
    Params = GopherQualityParams
    resources: ClassVar[Resources] = Resources(batch_size=512)

    def required_inputs(self) -> tuple[str, ...]:
        return language_inputs(self.params)

    def process(self, batch: pa.Table) -> pa.Table:
        p: GopherQualityParams = self.params  # type: ignore[assignment]
        stop_words = frozenset(STOP_WORDS if p.stop_words is None else p.stop_words)
        scope = in_scope(batch, p.languages)
        rows = compiled_quality_signals(p, batch.column(Col.TEXT), stop_words)
        texts = texts_of(batch) if rows is None else None
        cols: dict[str, list] = {k: [] for k in _GQ_SIGNALS}
        reasons: list[str | None] = []
        details: list[str | None] = []
        for d, lang_ok in enumerate(scope):
            if rows is None or rows[d] is None:
                text = texts_of(batch.slice(d, 1))[0] if texts is None else texts[d]
                words = split_words([text], p.tokenizer_language)[0]
                sig = gopher_quality_signals(text, words, set(stop_words))
            else:
                sig = rows[d]
            for k in _GQ_SIGNALS:
                cols[k].append(sig[k])
            r, d_ = _gopher_quality_decision(p, sig, lang_ok)
            reasons.append(r)
            details.append(d_)
        batch = add_signals(batch, {k: (_GQ_SIGNALS[k], v) for k, v in cols.items()})
        return apply_rejects(batch, reasons, details)


_GQ_SIGNALS = {
    "gopher_word_count": I64,
    "gopher_non_symbol_words": I64,
    "gopher_mean_word_length": F64,
    "gopher_hash_ratio": F64,
    "gopher_ellipsis_ratio": F64,
    "gopher_bullet_lines_ratio": F64,
    "gopher_end_ellipsis_lines_ratio": F64,
    "gopher_alpha_words_ratio": F64,
    "gopher_stop_words": I64,
}


def gopher_quality_signals(text: str, words: list[str], stop_words: set[str]) -> dict:
    """The Gopher quality measures of one document, computed as datatrove computes them.

    Per-word properties are computed once per distinct word (word frequencies are skewed, so
    this is several times fewer checks than one per word).
    """
    vocab: dict[str, int] = {}
    ids = np.fromiter(
        (vocab.setdefault(w, len(vocab)) for w in words), dtype=np.int64, count=len(words)
    )
    uniq = list(vocab)
    non_symbol = np.fromiter((bool(w.translate(_DROP_PUNCT)) for w in uniq), bool, len(uniq))
    has_alpha = np.fromiter((any(c.isalpha() for c in w) for w in uniq), bool, len(uniq))
    wlen = np.fromiter((len(w) for w in uniq), np.int64, len(uniq))
    n_words = len(words)
    ns_mask = non_symbol[ids]
    n_non_symbol = int(ns_mask.sum())
    # same float as np.mean over the list of lengths (pairwise sum in word order)
    mean_len = float(np.mean(wlen[ids][ns_mask])) if n_non_symbol else None
    lines = text.splitlines()
    n_lines = len(lines)
    bullets = sum(s.lstrip().startswith("•") or s.lstrip().startswith("-") for s in lines)
    end_ell = sum(s.rstrip().endswith("...") or s.rstrip().endswith("…") for s in lines)
    return {
        "gopher_word_count": n_words,
        "gopher_non_symbol_words": n_non_symbol,
        "gopher_mean_word_length": mean_len,
        # datatrove divides by zero on a document without words; we record 0
        "gopher_hash_ratio": text.count("#") / n_words if n_words else 0.0,
        "gopher_ellipsis_ratio": (
            (text.count("...") + text.count("…")) / n_words if n_words else 0.0
        ),
        "gopher_bullet_lines_ratio": bullets / n_lines if n_lines else 0.0,
        "gopher_end_ellipsis_lines_ratio": end_ell / n_lines if n_lines else 0.0,
        "gopher_alpha_words_ratio": (int(has_alpha[ids].sum()) / n_words if n_words else 0.0),
        "gopher_stop_words": len(stop_words.intersection(vocab)),
    }


def _gopher_quality_decision(
    p: GopherQualityParams, s: dict, lang_ok: bool
) -> tuple[str | None, str | None]:
    n_ns = s["gopher_non_symbol_words"]
    if p.min_doc_words and n_ns < p.min_doc_words:
        return "gopher_short_doc", detail("non_symbol_words", n_ns, "<", p.min_doc_words)
    if p.max_doc_words and n_ns > p.max_doc_words:
        return "gopher_long_doc", detail("non_symbol_words", n_ns, ">", p.max_doc_words)
    mean_len = s["gopher_mean_word_length"]
    if lang_ok and mean_len is not None:
        if p.min_avg_word_length and mean_len < p.min_avg_word_length:
            return "gopher_below_avg_threshold", detail(
                "mean_word_length", mean_len, "<", p.min_avg_word_length
            )
        if p.max_avg_word_length and mean_len > p.max_avg_word_length:
            return "gopher_above_avg_threshold", detail(
                "mean_word_length", mean_len, ">", p.max_avg_word_length
            )
    for key, reason in (
        ("gopher_hash_ratio", "gopher_too_many_hashes"),
        ("gopher_ellipsis_ratio", "gopher_too_many_ellipsis"),
    ):
        if p.max_symbol_word_ratio and s[key] > p.max_symbol_word_ratio:
            return reason, detail(key[7:], s[key], ">", p.max_symbol_word_ratio)
    v = s["gopher_bullet_lines_ratio"]
    if p.max_bullet_lines_ratio and v > p.max_bullet_lines_ratio:
        return "gopher_too_many_bullets", detail(
            "bullet_lines_ratio", v, ">", p.max_bullet_lines_ratio
        )
    v = s["gopher_end_ellipsis_lines_ratio"]
    if p.max_ellipsis_lines_ratio and v > p.max_ellipsis_lines_ratio:
        return "gopher_too_many_end_ellipsis", detail(
            "end_ellipsis_lines_ratio", v, ">", p.max_ellipsis_lines_ratio
        )
    v = s["gopher_alpha_words_ratio"]
    if p.max_non_alpha_words_ratio and v < p.max_non_alpha_words_ratio:
        return "gopher_below_alpha_threshold", detail(
            "alpha_words_ratio", v, "<", p.max_non_alpha_words_ratio
        )
    n_stop = s["gopher_stop_words"]
    if lang_ok and p.min_stop_words and n_stop < p.min_stop_words:
        return "gopher_enough_stop_words", detail("stop_words", n_stop, "<", p.min_stop_words)
    return None, None


# --------------------------------------------------------------------------- Gopher repetition


class GopherRepetitionParams(StageParams):
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    # (n, max fraction of characters in the most frequent n-gram)
    top_n_grams: list[tuple[int, float]] = [(2, 0.2), (3, 0.18), (4, 0.16)]
    # (n, max fraction of characters in repeated n-grams)
    dup_n_grams: list[tuple[int, float]] = [
        (5, 0.15),
        (6, 0.14),
        (7, 0.13),
        (8, 0.12),
        (9, 0.11),
        (10, 0.10),
    ]
    tokenizer_language: str = "en"


_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")
_LINE_SPLIT = re.compile("\n+")


@register_stage
class GopherRepetition(Stage):
    """Gopher repetition rules: duplicated lines and paragraphs, repeated word n-grams.

    Signals (fractions, on every row): ``gopher_rep_dup_para_frac``,
    ``gopher_rep_dup_para_char_frac``, ``gopher_rep_dup_line_frac``,
    ``gopher_rep_dup_line_char_frac``, ``gopher_rep_top_{n}_gram_frac`` for each configured
    top n-gram and ``gopher_rep_dup_{n}_gram_frac`` for each duplicated n-gram size. Null on an
    empty document.

    Reasons (datatrove's): ``empty``, ``dup_para_frac``, ``dup_para_char_frac``,
    ``dup_line_frac``, ``dup_line_char_frac``, ``top_{n}_gram``, ``duplicated_{n}_n_grams``.

    The rules are language-independent (they count repeats); words are split with the
    ``tokenizer_language`` word tokenizer for every row.
    """

    name = "gopher_repetition"
    description = "Gopher repetition rules (duplicate lines/paragraphs, repeated n-grams)"
    Params = GopherRepetitionParams
    resources: ClassVar[Resources] = Resources(batch_size=512)

    def signal_names(self) -> list[str]:
        p: GopherRepetitionParams = self.params  # type: ignore[assignment]
        names = [
            "gopher_rep_dup_para_frac",
            "gopher_rep_dup_para_char_frac",
            "gopher_rep_dup_line_frac",
            "gopher_rep_dup_line_char_frac",
        ]
        names += [f"gopher_rep_top_{n}_gram_frac" for n, _ in p.top_n_grams]
        names += [f"gopher_rep_dup_{n}_gram_frac" for n, _ in p.dup_n_grams]
        return names

    def process(self, batch: pa.Table) -> pa.Table:
        p: GopherRepetitionParams = self.params  # type: ignore[assignment]
        names = self.signal_names()
        rows = compiled_repetition_signals(p, batch.column(Col.TEXT), names)
        texts = texts_of(batch) if rows is None else None
        cols: dict[str, list] = {k: [] for k in names}
        reasons: list[str | None] = []
        details: list[str | None] = []
        for d in range(batch.num_rows):
            if rows is None or rows[d] is None:
                text = texts_of(batch.slice(d, 1))[0] if texts is None else texts[d]
                words = split_words([text], p.tokenizer_language)[0]
                sig = gopher_repetition_signals(p, text, words)
            else:
                sig = rows[d]
            for k in names:
                cols[k].append(sig.get(k))
            r, d_ = _gopher_repetition_decision(p, sig) if sig else ("empty", None)
            reasons.append(r)
            details.append(d_)
        batch = add_signals(batch, {k: (F64, v) for k, v in cols.items()})
        return apply_rejects(batch, reasons, details)


def gopher_repetition_signals(p: GopherRepetitionParams, text: str, words: list[str]) -> dict:
    if not text:
        return {}
    n_chars = len(text)
    paragraphs = _PARAGRAPH_SPLIT.split(text.strip())
    para_dups, para_chars = find_duplicates(paragraphs)
    lines = _LINE_SPLIT.split(text)
    line_dups, line_chars = find_duplicates(lines)
    sig: dict[str, float | None] = {
        "gopher_rep_dup_para_frac": para_dups / len(paragraphs),
        "gopher_rep_dup_para_char_frac": para_chars / n_chars,
        "gopher_rep_dup_line_frac": line_dups / len(lines),
        "gopher_rep_dup_line_char_frac": line_chars / n_chars,
    }
    spaced = JoinedWords(words, " ")  # datatrove's top n-grams are " "-joined
    for n, _ in p.top_n_grams:
        top = top_ngram_chars(spaced, n)
        sig[f"gopher_rep_top_{n}_gram_frac"] = None if top is None else top / n_chars
    glued = JoinedWords(words, "")  # its duplicated n-grams are ""-joined
    for n, _ in p.dup_n_grams:
        sig[f"gopher_rep_dup_{n}_gram_frac"] = duplicated_ngram_chars(glued, n) / n_chars
    return sig


def _gopher_repetition_decision(
    p: GopherRepetitionParams, s: dict
) -> tuple[str | None, str | None]:
    for key, thr in (
        ("dup_para_frac", p.dup_para_frac),
        ("dup_para_char_frac", p.dup_para_char_frac),
        ("dup_line_frac", p.dup_line_frac),
        ("dup_line_char_frac", p.dup_line_char_frac),
    ):
        v = s[f"gopher_rep_{key}"]
        if thr and v > thr:
            return key, detail(key, v, ">", thr)
    for n, thr in p.top_n_grams:
        v = s[f"gopher_rep_top_{n}_gram_frac"]
        if v is not None and v > thr:
            return f"top_{n}_gram", detail(f"top_{n}_gram_frac", v, ">", thr)
    for n, thr in p.dup_n_grams:
        v = s[f"gopher_rep_dup_{n}_gram_frac"]
        if v > thr:
            return f"duplicated_{n}_n_grams", detail(f"dup_{n}_gram_frac", v, ">", thr)
    return None, None


def compiled_repetition_signals(
    p: GopherRepetitionParams, texts: pa.ChunkedArray, names: list[str]
) -> list[dict | None] | None:
    """Signals of each document from the compiled kernels (``{}`` for an empty document);
    None for a document (or, as a whole, a language) the kernels leave to Python."""
    bw = batch_words(texts, p.tokenizer_language)
    if bw is None:
        return None
    top_ns = np.array([n for n, _ in p.top_n_grams], np.int64)
    dup_ns = np.array([n for n, _ in p.dup_n_grams], np.int64)
    stats, top, dup = repetition_batch(
        bw.data, bw.offsets, bw.ok, bw.doc_off, bw.ws, bw.we, bw.table, top_ns, dup_ns,
    )  # fmt: skip
    out: list[dict | None] = []
    for ok, st, tp, dp in zip(bw.ok.tolist(), stats.tolist(), top.tolist(), dup.tolist(),
                              strict=True):  # fmt: skip
        if not ok or min(dp, default=0) < 0:
            out.append(None)
            continue
        n_chars = st[0]
        if n_chars == 0:
            out.append({})
            continue
        vals = [st[2] / st[1], st[3] / n_chars, st[5] / st[4], st[6] / n_chars]
        vals += [None if c < 0 else c / n_chars for c in tp]
        vals += [c / n_chars for c in dp]
        out.append(dict(zip(names, vals, strict=True)))
    return out


def compiled_quality_signals(
    p: GopherQualityParams, texts: pa.ChunkedArray, stop_words: frozenset[str]
) -> list[dict | None] | None:
    """Gopher quality signals per document from the compiled kernels (None: Python path)."""
    bw = batch_words(texts, p.tokenizer_language)
    if bw is None:
        return None
    counts = gopher_quality_batch(
        bw.data, bw.offsets, bw.ok, bw.doc_off, bw.ws, bw.we, bw.table, *stop_table(stop_words)
    )
    out: list[dict | None] = []
    for ok, row in zip(bw.ok.tolist(), counts.tolist(), strict=True):
        if not ok:
            out.append(None)
            continue
        n_words, n_ns, ns_len, n_alpha, n_stop, n_hash, n_ell, n_lines, bullets, end_ell = row
        out.append(
            {
                "gopher_word_count": n_words,
                "gopher_non_symbol_words": n_ns,
                "gopher_mean_word_length": ns_len / n_ns if n_ns else None,
                "gopher_hash_ratio": n_hash / n_words if n_words else 0.0,
                "gopher_ellipsis_ratio": n_ell / n_words if n_words else 0.0,
                "gopher_bullet_lines_ratio": bullets / n_lines if n_lines else 0.0,
                "gopher_end_ellipsis_lines_ratio": end_ell / n_lines if n_lines else 0.0,
                "gopher_alpha_words_ratio": n_alpha / n_words if n_words else 0.0,
                "gopher_stop_words": n_stop,
            }
        )
    return out

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
    Rule,
    SignalArrays,
    apply_rejects,
    first_rules,
    in_scope,
    language_inputs,
    ratio,
    texts_at,
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
        n = batch.num_rows
        sig = SignalArrays(n, _GQ_SIGNALS)
        todo = compiled_quality_signals(p, batch.column(Col.TEXT), stop_words, sig)
        todo = list(range(n)) if todo is None else todo
        for d, text in zip(todo, texts_at(batch, todo), strict=True):
            words = split_words([text], p.tokenizer_language)[0]
            sig.set_row(d, gopher_quality_signals(text, words, set(stop_words)))
        scope = np.array(in_scope(batch, p.languages), np.bool_)
        reasons, details = first_rules(n, _gopher_quality_rules(p, sig, scope))
        return apply_rejects(sig.add_to(batch), reasons, details)


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


def _gopher_quality_rules(
    p: GopherQualityParams, sig: SignalArrays, scope: np.ndarray
) -> list[Rule]:
    """datatrove's rules in their order (a threshold set to null or 0 is off); the word
    length and stop-word rules only where the language is in scope."""
    v = sig.values
    n_ns, stop = v["gopher_non_symbol_words"], v["gopher_stop_words"]
    mean = v["gopher_mean_word_length"]
    has_mean = scope & sig.valid["gopher_mean_word_length"]
    rules: list[Rule] = []

    def add(reason: str, thr, fires, label: str, values: np.ndarray, op: str) -> None:
        if thr:
            rules.append((reason, fires(values, thr), label, values, op, thr))

    below, above = (lambda x, t: x < t), (lambda x, t: x > t)
    add("gopher_short_doc", p.min_doc_words, below, "non_symbol_words", n_ns, "<")
    add("gopher_long_doc", p.max_doc_words, above, "non_symbol_words", n_ns, ">")
    add("gopher_below_avg_threshold", p.min_avg_word_length,
        lambda x, t: has_mean & (x < t), "mean_word_length", mean, "<")  # fmt: skip
    add("gopher_above_avg_threshold", p.max_avg_word_length,
        lambda x, t: has_mean & (x > t), "mean_word_length", mean, ">")  # fmt: skip
    for key, reason in (("hash_ratio", "gopher_too_many_hashes"),
                        ("ellipsis_ratio", "gopher_too_many_ellipsis")):  # fmt: skip
        add(reason, p.max_symbol_word_ratio, above, key, v[f"gopher_{key}"], ">")
    add("gopher_too_many_bullets", p.max_bullet_lines_ratio, above, "bullet_lines_ratio",
        v["gopher_bullet_lines_ratio"], ">")  # fmt: skip
    add("gopher_too_many_end_ellipsis", p.max_ellipsis_lines_ratio, above,
        "end_ellipsis_lines_ratio", v["gopher_end_ellipsis_lines_ratio"], ">")  # fmt: skip
    add("gopher_below_alpha_threshold", p.max_non_alpha_words_ratio, below,
        "alpha_words_ratio", v["gopher_alpha_words_ratio"], "<")  # fmt: skip
    add("gopher_enough_stop_words", p.min_stop_words, lambda x, t: scope & (x < t),
        "stop_words", stop, "<")  # fmt: skip
    return rules


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
        n = batch.num_rows
        sig = SignalArrays(n, dict.fromkeys(self.signal_names(), F64))
        empty = np.zeros(n, np.bool_)
        todo = compiled_repetition_signals(p, batch.column(Col.TEXT), sig, empty)
        todo = list(range(n)) if todo is None else todo
        for d, text in zip(todo, texts_at(batch, todo), strict=True):
            words = split_words([text], p.tokenizer_language)[0]
            row = gopher_repetition_signals(p, text, words)
            sig.set_row(d, row)
            empty[d] = not row
        reasons, details = first_rules(n, _gopher_repetition_rules(p, sig, empty))
        return apply_rejects(sig.add_to(batch), reasons, details)


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


def _gopher_repetition_rules(
    p: GopherRepetitionParams, sig: SignalArrays, empty: np.ndarray
) -> list[Rule]:
    """datatrove's rules in their order, over the batch's signals (null: the rule skips)."""
    v, ok = sig.values, sig.valid
    rules: list[Rule] = [("empty", empty, None, None, "", None)]
    for key, thr in (
        ("dup_para_frac", p.dup_para_frac),
        ("dup_para_char_frac", p.dup_para_char_frac),
        ("dup_line_frac", p.dup_line_frac),
        ("dup_line_char_frac", p.dup_line_char_frac),
    ):
        x = v[f"gopher_rep_{key}"]
        if thr:
            rules.append((key, ok[f"gopher_rep_{key}"] & (x > thr), key, x, ">", thr))
    for n, thr in p.top_n_grams:
        name = f"gopher_rep_top_{n}_gram_frac"
        x = v[name]
        rules.append((f"top_{n}_gram", ok[name] & (x > thr), f"top_{n}_gram_frac", x, ">", thr))
    for n, thr in p.dup_n_grams:
        name = f"gopher_rep_dup_{n}_gram_frac"
        x = v[name]
        rules.append((f"duplicated_{n}_n_grams", ok[name] & (x > thr), f"dup_{n}_gram_frac", x,
                      ">", thr))  # fmt: skip
    return rules


def compiled_repetition_signals(
    p: GopherRepetitionParams, texts: pa.ChunkedArray, sig: SignalArrays, empty: np.ndarray
) -> list[int] | None:
    """Signals from the compiled kernels into ``sig`` (``empty``: an empty document, all
    null); the rows left to the Python path, or None where the kernels do not apply."""
    bw = batch_words(texts, p.tokenizer_language)
    if bw is None:
        return None
    top_ns = np.array([n for n, _ in p.top_n_grams], np.int64)
    dup_ns = np.array([n for n, _ in p.dup_n_grams], np.int64)
    stats, top, dup = repetition_batch(
        bw.data, bw.data8, bw.offsets, bw.ok, bw.doc_off, bw.ws, bw.we, bw.table, top_ns, dup_ns,
    )  # fmt: skip
    n_chars = stats[:, 0]
    empty[:] = bw.ok & (n_chars == 0)
    valid = bw.ok & (n_chars > 0)
    for key, num, den in (("dup_para_frac", 2, 1), ("dup_para_char_frac", 3, 0),
                          ("dup_line_frac", 5, 4), ("dup_line_char_frac", 6, 0)):  # fmt: skip
        sig.set(f"gopher_rep_{key}", ratio(stats[:, num], stats[:, den]), valid.copy())
    for t, (n, _) in enumerate(p.top_n_grams):
        sig.set(
            f"gopher_rep_top_{n}_gram_frac", ratio(top[:, t], n_chars), valid & (top[:, t] >= 0)
        )
    for t, (n, _) in enumerate(p.dup_n_grams):
        sig.set(f"gopher_rep_dup_{n}_gram_frac", ratio(dup[:, t], n_chars), valid.copy())
    return np.flatnonzero(~bw.ok).tolist()


def compiled_quality_signals(
    p: GopherQualityParams, texts: pa.ChunkedArray, stop_words: frozenset[str], sig: SignalArrays
) -> list[int] | None:
    """Gopher quality signals from the compiled kernels into ``sig``; the rows left to the
    Python path, or None where the kernels do not apply."""
    bw = batch_words(texts, p.tokenizer_language)
    if bw is None:
        return None
    counts = gopher_quality_batch(
        bw.data, bw.offsets, bw.ok, bw.doc_off, bw.ws, bw.we, bw.table, *stop_table(stop_words)
    )
    n_words, n_ns, ns_len, n_alpha, n_stop, n_hash, n_ell, n_lines, bullets, end_ell = counts.T
    sig.set("gopher_word_count", n_words.copy())
    sig.set("gopher_non_symbol_words", n_ns.copy())
    sig.set("gopher_mean_word_length", ratio(ns_len, n_ns), n_ns > 0)
    sig.set("gopher_hash_ratio", ratio(n_hash, n_words))
    sig.set("gopher_ellipsis_ratio", ratio(n_ell, n_words))
    sig.set("gopher_bullet_lines_ratio", ratio(bullets, n_lines))
    sig.set("gopher_end_ellipsis_lines_ratio", ratio(end_ell, n_lines))
    sig.set("gopher_alpha_words_ratio", ratio(n_alpha, n_words))
    sig.set("gopher_stop_words", n_stop.copy())
    return bw.fallback

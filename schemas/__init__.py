"""corpusforge.schemas: column names and Arrow schemas shared by the engine and the stages."""

from corpusforge.schemas.documents import (
    DOCUMENT_SCHEMA,
    FATE_COLUMNS,
    FATE_FORGOTTEN,
    FATE_KEPT,
    FATE_QUARANTINED,
    FATE_REJECTED,
    LANGUAGE,
    Col,
)

__all__ = [
    "DOCUMENT_SCHEMA",
    "FATE_COLUMNS",
    "FATE_FORGOTTEN",
    "FATE_KEPT",
    "FATE_QUARANTINED",
    "FATE_REJECTED",
    "LANGUAGE",
    "Col",
]

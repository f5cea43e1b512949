"""corpusforge.schemas: column names and Arrow schemas shared by the engine and the stages."""

from corpusforge.schemas.documents import (
    DOCUMENT_SCHEMA,
    FATE_COLUMNS,
    FATE_KEPT,
    FATE_QUARANTINED,
    FATE_REJECTED,
    LINEAGE_DOC_SCHEMA,
    Col,
)

__all__ = [
    "DOCUMENT_SCHEMA",
    "FATE_COLUMNS",
    "FATE_KEPT",
    "FATE_QUARANTINED",
    "FATE_REJECTED",
    "LINEAGE_DOC_SCHEMA",
    "Col",
]

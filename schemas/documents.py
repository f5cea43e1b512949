"""The columns every document batch carries.

Readers produce these columns; stages add their own (``language``, quality signals, ...).
Columns whose names start with an underscore belong to the engine: stages never write them
except ``_reason``/``_detail`` through :func:`corpusforge.pipeline.reject`.
"""

import pyarrow as pa


class Col:
    ID = "id"
    TEXT = "text"
    SOURCE_PATH = "source_path"  # the input file (unit of work) the record came from
    SOURCE_INDEX = "source_index"  # 0-based record index inside that file
    SOURCE_LINE = "source_line"  # 1-based line for line-based formats, else null
    SOURCE_OFFSET = "source_offset"  # byte offset of the record (WARC), else null
    URL = "url"
    FETCH_DATE = "fetch_date"
    CONTENT_TYPE = "content_type"
    METADATA = "metadata"  # JSON object of the record's other fields, as a string
    # engine-owned fate columns
    FATE = "_fate"  # null while the document is live; kept / rejected / quarantined at the end
    STAGE = "_stage"  # stage that rejected it, or "read" for quarantined records
    REASON = "_reason"  # short machine-readable reason (e.g. "gopher_short_doc")
    DETAIL = "_detail"  # optional detail (numbers, detected language); never document text
    ERROR = "_error"  # why a record was quarantined (names file and line)


FATE_KEPT = "kept"
FATE_REJECTED = "rejected"
FATE_QUARANTINED = "quarantined"
# taken out of a finished output by `corpusforge forget` (or refused later as a forgotten copy)
FATE_FORGOTTEN = "forgotten"

FATE_COLUMNS = (Col.FATE, Col.STAGE, Col.REASON, Col.DETAIL, Col.ERROR)

# stage_stats rows that are the engine's own steps, not stages: the reading (and a WARC
# reader's HTML extraction), ahead of the stages; and what every phase's tasks do after them,
# counted over all phases: the PII stage on rejected rows it had not seen
# (output.rejected_text: redacted; a fifth of the web recipe's phase-0 worker time, measured)
# and writing the fragments
READ_STEPS = ("read", "extract")
OUTPUT_STEPS = ("redact_rejected", "write")
ENGINE_STEPS = READ_STEPS + OUTPUT_STEPS

DOCUMENT_SCHEMA = pa.schema(
    [
        (Col.ID, pa.string()),
        (Col.TEXT, pa.string()),
        (Col.SOURCE_PATH, pa.string()),
        (Col.SOURCE_INDEX, pa.int64()),
        (Col.SOURCE_LINE, pa.int64()),
        (Col.SOURCE_OFFSET, pa.int64()),
        (Col.URL, pa.string()),
        (Col.FETCH_DATE, pa.string()),
        (Col.CONTENT_TYPE, pa.string()),
        (Col.METADATA, pa.string()),
        (Col.FATE, pa.string()),
        (Col.STAGE, pa.string()),
        (Col.REASON, pa.string()),
        (Col.DETAIL, pa.string()),
        (Col.ERROR, pa.string()),
    ]
)

# Signal columns more than one stage family shares. The langid stage adds ``language``; the
# quality and PII stages scope their rules by it. Everything else a stage adds is its own.
LANGUAGE = "language"

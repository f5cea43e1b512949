"""What stage, reader and sink authors import: the whole contract, and nothing of the engine.

Importing this package loads neither Ray nor DuckDB, so a worker that only runs stages stays
light. Built-in stages under ``corpusforge.stages`` import only from here (plus
``corpusforge.pipeline.io`` and ``corpusforge.schemas``).
"""

from corpusforge.pipeline.api.errors import (
    ConfigError,
    ConservationError,
    CorpusforgeError,
    InputError,
    RunError,
    StageContractError,
)
from corpusforge.pipeline.api.frame import Frame, FrameSource, LocalFrame, LocalFrameSource
from corpusforge.pipeline.api.memory import trim_heap
from corpusforge.pipeline.api.reader import Reader, ReaderParams, ReadPart
from corpusforge.pipeline.api.report import (
    ReportKit,
    ReportQuery,
    ReportSection,
    register_report_section,
)
from corpusforge.pipeline.api.rows import as_array, reject, rejected_mask, set_column
from corpusforge.pipeline.api.sink import SINK_INDEX_SCHEMA, Sink
from corpusforge.pipeline.api.stage import (
    CLUSTER_GPUS_ENV,
    GlobalContext,
    GlobalStage,
    Metric,
    Resources,
    Stage,
    StageParams,
    stage,
)
from corpusforge.pipeline.registry import (
    all_readers,
    all_sinks,
    all_stages,
    get_stage,
    register_reader,
    register_sink,
    register_stage,
)

__all__ = [
    "CLUSTER_GPUS_ENV",
    "SINK_INDEX_SCHEMA",
    "ConfigError",
    "ConservationError",
    "CorpusforgeError",
    "Frame",
    "FrameSource",
    "GlobalContext",
    "GlobalStage",
    "InputError",
    "LocalFrame",
    "LocalFrameSource",
    "Metric",
    "ReadPart",
    "Reader",
    "ReaderParams",
    "ReportKit",
    "ReportQuery",
    "ReportSection",
    "Resources",
    "RunError",
    "Sink",
    "Stage",
    "StageContractError",
    "StageParams",
    "all_readers",
    "all_sinks",
    "all_stages",
    "as_array",
    "get_stage",
    "register_reader",
    "register_report_section",
    "register_sink",
    "register_stage",
    "reject",
    "rejected_mask",
    "set_column",
    "stage",
    "trim_heap",
]

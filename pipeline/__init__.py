"""corpusforge.pipeline: the engine. Stage API, config, runner on Ray Data, lineage."""

from corpusforge.pipeline.errors import (
    ConfigError,
    ConservationError,
    CorpusforgeError,
    RunError,
    StageContractError,
)
from corpusforge.pipeline.registry import (
    all_stages,
    get_stage,
    register_reader,
    register_sink,
    register_stage,
)
from corpusforge.pipeline.runner import Pipeline
from corpusforge.pipeline.sink import Sink
from corpusforge.pipeline.stage import (
    GlobalStage,
    Resources,
    Stage,
    StageParams,
    reject,
    rejected_mask,
    set_column,
    stage,
)
from corpusforge.pipeline.summary import RunResult

__all__ = [
    "ConfigError",
    "ConservationError",
    "CorpusforgeError",
    "GlobalStage",
    "Pipeline",
    "Resources",
    "RunError",
    "RunResult",
    "Sink",
    "Stage",
    "StageContractError",
    "StageParams",
    "all_stages",
    "get_stage",
    "register_reader",
    "register_sink",
    "register_stage",
    "reject",
    "rejected_mask",
    "set_column",
    "stage",
]

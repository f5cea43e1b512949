"""corpusforge.pipeline: the engine, and the API stages are written against.

``corpusforge.pipeline.api`` is the stage contract; :class:`Pipeline` runs a config. The
engine (``engine/``) and the Ray backend (``backends/ray/``) load only when a run needs them:
``from corpusforge.pipeline import Pipeline`` is resolved lazily.
"""

from typing import TYPE_CHECKING, Any

from corpusforge.pipeline.api import (
    ConfigError,
    ConservationError,
    CorpusforgeError,
    GlobalStage,
    Resources,
    RunError,
    Sink,
    Stage,
    StageContractError,
    StageParams,
    all_stages,
    get_stage,
    register_reader,
    register_sink,
    register_stage,
    reject,
    rejected_mask,
    set_column,
    stage,
)

if TYPE_CHECKING:
    from corpusforge.pipeline.engine.runner import Pipeline
    from corpusforge.pipeline.lineage.summary import RunResult


def __getattr__(name: str) -> Any:
    if name == "Pipeline":
        from corpusforge.pipeline.engine.runner import Pipeline

        return Pipeline
    if name == "RunResult":
        from corpusforge.pipeline.lineage.summary import RunResult

        return RunResult
    raise AttributeError(name)


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

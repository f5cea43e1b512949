"""From a validated config to stage instances split into phases at global stages."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from corpusforge.pipeline.api import Resources, Stage
from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.pipeline.config import RunConfig, stage_location
from corpusforge.pipeline.registry import all_stages, get_sink, get_stage, import_modules
from corpusforge.schemas import DOCUMENT_SCHEMA, ENGINE_STEPS


@dataclass
class PlannedStage:
    stage: Stage
    resources: Resources


@dataclass
class Phase:
    """A global stage (or none, for phase 0) followed by per-batch stages."""

    index: int
    global_stage: PlannedStage | None
    map_stages: list[PlannedStage] = field(default_factory=list)

    @property
    def stages(self) -> list[PlannedStage]:
        """The global stage (if any) and then the per-batch stages, in run order."""
        head = [self.global_stage] if self.global_stage else []
        return head + self.map_stages

    @property
    def names(self) -> list[str]:
        return [p.stage.instance_name for p in self.stages]


def resources_for(stage: Stage) -> Resources:
    """A stage may compute its resources from its params (e.g. num_gpus for device: gpu)
    with a classmethod ``resources_for(params) -> Resources``."""
    hook = getattr(type(stage), "resources_for", None)
    return hook(stage.params) if callable(hook) else type(stage).resources


def build_stages(cfg: RunConfig) -> list[PlannedStage]:
    import_modules(cfg.plugins)
    planned: list[PlannedStage] = []
    seen: set[str] = set()
    for i, sc in enumerate(cfg.stages):
        try:
            cls = get_stage(sc.stage)
        except ConfigError as exc:
            raise ConfigError(
                f"{stage_location(cfg, i, 'stage')}: {exc.message}", exc.hint
            ) from None
        if sc.instance_name in ENGINE_STEPS:  # their counters would be summed with the step's
            raise ConfigError(
                f"{stage_location(cfg, i)}: stage name {sc.instance_name!r} is the engine's own "
                "step in stage_stats",
                hint=f"give the stage another `name:` (reserved: {', '.join(ENGINE_STEPS)})",
            )
        if sc.instance_name in seen:
            raise ConfigError(
                f"{stage_location(cfg, i)}: stage name {sc.instance_name!r} is used twice",
                hint="give one of them a distinct `name:`",
            )
        seen.add(sc.instance_name)
        try:
            stage = cls(sc.params, instance_name=sc.instance_name)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            raise ConfigError(
                f"{stage_location(cfg, i, 'params', *[str(p) for p in err['loc']])}: "
                f"{sc.stage}: {key}: {err['msg']}",
                hint=f"`corpusforge stages` lists the parameters of {sc.stage}",
            ) from None
        try:
            resources = resources_for(stage).merged(sc.resources)
        except TypeError as exc:
            raise ConfigError(f"{stage_location(cfg, i, 'resources')}: {exc}") from None
        planned.append(PlannedStage(stage, resources))
    return planned


def split_phases(planned: list[PlannedStage]) -> list[Phase]:
    phases = [Phase(0, None)]
    for p in planned:
        if p.stage.is_global:
            phases.append(Phase(len(phases), p))
        else:
            phases[-1].map_stages.append(p)
    return phases


def check_columns(cfg: RunConfig, planned: list[PlannedStage]) -> None:
    """Every column a stage or sink reads is added by an earlier stage (or is a document
    column): "megatron without tokenize" fails here, when the config is validated."""
    available = set(DOCUMENT_SCHEMA.names)
    for i, p in enumerate(planned):
        for column in p.stage.required_inputs():
            if column not in available:
                where = stage_location(cfg, i) if i < len(cfg.stages) else p.stage.instance_name
                raise ConfigError(
                    f"{where}: {p.stage.instance_name} reads column {column!r}, "
                    "which no earlier stage adds",
                    hint=_producer_hint(column, "before it"),
                )
        available.update(p.stage.added_columns())
    for j, sc in enumerate(cfg.output.sinks):
        sink = get_sink(sc.kind)
        for column in sink.required_columns:
            if column not in available:
                raise ConfigError(
                    f"output.sinks[{j}] ({sc.kind}) needs column {column!r}, which no stage adds",
                    hint=_producer_hint(column, "to stages"),
                )


def _producer_hint(column: str, where: str) -> str:
    producers = sorted(n for n, cls in all_stages().items() if column in cls.outputs)
    if not producers:
        return "check the stage order and the column names"
    return f"add `{producers[0]}` {where}" + (
        f" (or one of: {', '.join(producers[1:])})" if len(producers) > 1 else ""
    )

"""From a validated config to stage instances split into phases at global stages."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from corpusforge.pipeline.api import Resources, Stage
from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.pipeline.config import RunConfig, stage_location
from corpusforge.pipeline.registry import get_stage, import_modules


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

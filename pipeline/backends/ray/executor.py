"""Ray specifics of a run: starting or joining Ray, stages as Ray Data operators, and turning
Ray's wrapped worker errors back into one-line errors."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from typing import Any

from corpusforge.pipeline.api import errors as errors_module
from corpusforge.pipeline.api.errors import CorpusforgeError, RunError
from corpusforge.pipeline.config import RunConfig
from corpusforge.pipeline.engine.execute import StageRunner, run_stage_task
from corpusforge.pipeline.engine.plan import PlannedStage


def add_stage(ds: Any, planned: PlannedStage, plugins: list[str], run_id: str) -> Any:
    import ray.data

    stage = planned.stage
    res = planned.resources
    cls = type(stage)
    travel_by_value(cls)
    params = stage.params.model_dump()
    # Whole blocks: a Ray batch size would make Ray bundle input files into one task to fill
    # it; the stage's batch size bounds its process() calls instead (apply_stage).
    common = dict(
        batch_size=None,
        batch_format="pyarrow",
        num_cpus=res.num_cpus,
        num_gpus=res.num_gpus or None,
    )
    if res.memory:
        common["memory"] = res.memory
    if uses_actor_pool(planned):
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1) // max(res.num_cpus, 0.1)))
        return ds.map_batches(
            StageRunner,
            fn_constructor_kwargs={
                "stage_cls": cls,
                "params": params,
                "instance_name": stage.instance_name,
                "plugins": plugins,
                "batch_rows": res.batch_size,
            },
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=res.concurrency or cpus),
            **common,
        )
    return ds.map_batches(
        run_stage_task,
        fn_kwargs={
            "stage_cls": cls,
            "params": params,
            "instance_name": stage.instance_name,
            "plugins": plugins,
            "run_id": run_id,
            "batch_rows": res.batch_size,
        },
        compute=ray.data.TaskPoolStrategy(size=res.concurrency) if res.concurrency else None,
        **common,
    )


def uses_actor_pool(planned: PlannedStage) -> bool:
    """GPU stages run on an actor pool that holds the device and the model on it.

    CPU stages, stateful or not, are tasks with the instance cached per worker process, so
    Ray fuses them with the reader and the writer: no idle actor pins a CPU that the tasks
    feeding it need, and one task reads, filters and writes a file.
    """
    return planned.stage.stateful and bool(planned.resources.num_gpus)


def travel_by_value(cls: type) -> None:
    """Classes from user scripts, notebooks or tests travel to workers by value.

    Workers may not be able to import the module a custom stage or reader was defined in (a
    script's ``__main__``, a test file); installed packages travel by reference as usual.
    """
    from ray import cloudpickle

    module = sys.modules.get(cls.__module__)
    if module is None or cls.__module__.startswith("corpusforge."):
        return
    if (
        cls.__module__ != "__main__"
        and getattr(module, "__file__", "")
        and "site-packages" in (module.__file__ or "")
    ):
        return
    with contextlib.suppress(ValueError):
        cloudpickle.register_pickle_by_value(module)


def ensure_ray(cfg: RunConfig) -> bool:
    """Start a local Ray (or connect to ``ray.address``) unless one is already up."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": True,
        "logging_level": logging.WARNING,
        "configure_logging": True,
    }
    if cfg.ray.address:
        ray.init(address=cfg.ray.address, **kwargs)
    elif os.environ.get("RAY_ADDRESS"):
        # the driver of a `corpusforge submit` job: join its cluster; the job's runtime_env
        # already ships the code workers need
        ray.init(**kwargs)
    else:
        if cfg.ray.num_cpus:
            kwargs["num_cpus"] = cfg.ray.num_cpus
        if cfg.ray.object_store_memory_mb:
            kwargs["object_store_memory"] = cfg.ray.object_store_memory_mb * 1024 * 1024
        # workers must import what the driver can (custom stage modules next to the config)
        path = os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p)
        kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": path}}
        ray.init(**kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = cfg.ray.progress
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    return True


_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$", re.MULTILINE)


def run_error(exc: BaseException) -> CorpusforgeError:
    """Unwrap Ray's task errors to the error a stage or reader raised.

    Ray Data re-raises worker errors as text (the original object does not travel), so the
    root cause is found in the message: engine errors come back as their own class, anything
    else as one line naming the exception, without Ray's wrapping.
    """
    if isinstance(exc, CorpusforgeError):
        return exc
    for match in _ERROR_LINE.finditer(str(exc)):
        qualname, message = match.group(1), match.group(2).strip()
        if qualname.startswith("ray."):
            continue
        cls = getattr(errors_module, qualname.rsplit(".", 1)[-1], None)
        if isinstance(cls, type) and issubclass(cls, CorpusforgeError):
            return cls(message)
        return RunError(
            f"run failed in a worker: {qualname.rsplit('.', 1)[-1]}: {message[:300]}",
            hint="re-run with --debug for the full traceback",
        )
    return RunError(
        f"run failed: {type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]}",
        hint="re-run with --debug for the full traceback",
    )

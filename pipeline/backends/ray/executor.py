"""The Ray executor: phases as Ray Data pipelines, output shards as Ray tasks.

Starting or joining Ray, stages as Ray Data operators, and turning Ray's wrapped worker errors
back into one-line errors. It runs the engine's Ray-free worker functions
(:mod:`corpusforge.pipeline.engine.execute`); the engine never sees a Dataset.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from corpusforge.pipeline.api import CLUSTER_GPUS_ENV, Frame
from corpusforge.pipeline.api import errors as errors_module
from corpusforge.pipeline.api.errors import ConfigError, CorpusforgeError, RunError
from corpusforge.pipeline.backends.ray import watchdog
from corpusforge.pipeline.backends.ray.frame import DocFrame, RayFrameSource
from corpusforge.pipeline.config import RunConfig
from corpusforge.pipeline.engine.execute import (
    StageRunner,
    live_schema,
    read_live_fragments,
    read_units,
    run_stage_task,
    task_scope,
    write_fragments,
)
from corpusforge.pipeline.engine.executor import PhaseWork, ReadWork
from corpusforge.pipeline.engine.plan import PlannedStage, resources_for

# What flows between the map stages of a task: Ray Data builds blocks of up to 128 MiB by
# default, so a worker held a whole unit (its text and every stage's columns, several copies)
# before the next stage or the fragment writer saw any of it, and the worker's memory grew
# with the unit size. At 8 MiB a few reader batches pass at a time (README_e2e.md: the tree's
# peak fell by about 300 MB at 300 MB; phase 0's speed did not change).
BLOCK_BYTES = 8 * 1024 * 1024
FRAGMENTS_PER_READ = 4


def _worker_pid() -> int:
    return os.getpid()


def _process(pid: int) -> Any:
    import psutil

    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def byte_slices(table: pa.Table, max_bytes: int) -> list[pa.Table]:
    """``table`` as consecutive row slices of about ``max_bytes`` each (at least one)."""
    if table.num_rows == 0 or table.nbytes <= max_bytes:
        return [table]
    rows = max(1, table.num_rows * max_bytes // table.nbytes)
    return [table.slice(i, rows) for i in range(0, table.num_rows, rows)]


class RayExecutor:
    """Runs a pipeline on a local Ray it starts, or on the cluster ``ray.address`` names."""

    def __init__(self, cfg: RunConfig) -> None:
        self._cfg = cfg
        self._started = False
        self._read_ran = False  # phase 0 ran in the workers since they were fresh
        self._watchdog: Any = None
        self.frames = RayFrameSource()
        self.cluster: dict[str, float] = {}  # ray.cluster_resources(), once started
        self._declared = False  # CLUSTER_GPUS_ENV set by start(), restored by stop()
        self._env_before: str | None = None

    def start(self) -> None:
        import ray

        if not (ray.is_initialized() or self._cfg.ray.address or os.environ.get("RAY_ADDRESS")):
            # the local Ray will be ours: it must not outlive this process, even a kill -9
            self._watchdog = watchdog.start(os.path.dirname(os.path.abspath(ray.__file__)) + os.sep)
        self._started = ensure_ray(self._cfg) or self._started
        self.cluster = dict(ray.cluster_resources())
        if not self._declared:  # the driver's stages now plan for the cluster's GPUs
            self._declared, self._env_before = True, os.environ.get(CLUSTER_GPUS_ENV)
            os.environ[CLUSTER_GPUS_ENV] = str(declared_gpus(self.cluster))

    def stop(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False
        watchdog.stop(self._watchdog)  # kills what ray.shutdown() left (agents)
        self._watchdog = None
        if self._declared:
            os.environ.pop(CLUSTER_GPUS_ENV, None)
            if self._env_before is not None:
                os.environ[CLUSTER_GPUS_ENV] = self._env_before
            self._declared = False

    def _retire_workers(self) -> None:
        """Replace the local cluster's workers once phase 0 has run in them.

        A worker keeps every module and model phase 0 loaded (spaCy, Presidio, lingua, the
        quality and language-ID kernels) after the phase's stage instances are dropped; the
        dedup phases, tokenization and the outputs need none of them. Each worker takes one
        task that ends it (``max_calls=1``) and is waited for, so old and new workers do not
        overlap; Ray starts new ones as the next phase asks. About 3 s of worker start for a
        few hundred MB less through the rest of the run (README_e2e.md). A joined cluster's
        workers are left alone.
        """
        if not (self._started and self._read_ran):
            return
        import psutil
        import ray

        retire = ray.remote(num_cpus=1, max_calls=1)(_worker_pid)
        n = max(1, int(self.cluster.get("CPU", 1)))
        pids = ray.get([retire.remote() for _ in range(n)])
        psutil.wait_procs([p for p in map(_process, set(pids)) if p is not None], timeout=10)
        self._read_ran = False

    def scheduled(self, planned: PlannedStage) -> PlannedStage:
        """``planned`` with its resources for this cluster.

        The engine plans before Ray is up, when a stage can only see the driver's devices;
        a stage that computes its resources (``resources_for``, e.g. ``device: auto``) is
        asked again now that ``CLUSTER_GPUS_ENV`` holds the cluster's GPU count, and the
        config's ``resources:`` overrides apply on top. A stage that asks for GPUs the
        cluster does not have fails here rather than waiting for them forever.
        """
        stage = planned.stage
        if callable(getattr(type(stage), "resources_for", None)):
            overrides = {sc.instance_name: sc.resources for sc in self._cfg.stages}
            res = resources_for(stage).merged(overrides.get(stage.instance_name))
            planned = PlannedStage(stage, res)
        gpus = declared_gpus(self.cluster)
        if planned.resources.num_gpus > gpus:
            raise ConfigError(
                f"stage {stage.instance_name!r} asks for {planned.resources.num_gpus:g} GPUs "
                f"per worker; the Ray cluster has {gpus}",
                hint=f"device: auto or cpu; on a cluster whose GPU nodes start on demand, set "
                f"{CLUSTER_GPUS_ENV} to their GPU count",
            )
        return planned

    def read_phase(self, read: ReadWork, work: PhaseWork) -> Iterator[dict[str, Any]]:
        import ray.data

        for cls in read.readers.values():
            travel_by_value(cls)
        ds = ray.data.from_items(read.items(), override_num_blocks=len(read.units))
        ds.context.target_max_block_size = BLOCK_BYTES
        ds = ds.map_batches(
            read_units,
            batch_size=1,
            batch_format="pyarrow",
            fn_kwargs={
                "readers": read.readers,
                "reader_params": read.reader_params,
                "plugins": work.plugins,
            },
        )
        stages = [self.scheduled(p) for p in work.stages]
        self._read_ran = True
        yield from _descriptors(_stages_then_write(ds, work, stages, self.cluster))

    def global_phase(
        self,
        fragment_urls: list[str],
        run_global: Callable[[Frame], Frame],
        work: PhaseWork,
    ) -> Iterator[dict[str, Any]]:
        import ray.data

        self._retire_workers()
        ds = ray.data.from_items(
            [{"path": u} for u in fragment_urls],
            # a fragment holds up to BLOCK_BYTES of documents: a read task takes a few, so a
            # global phase runs as many tasks as with one fragment per input unit
            override_num_blocks=min(math.ceil(len(fragment_urls) / FRAGMENTS_PER_READ), 256),
        ).map_batches(
            read_live_fragments,
            batch_size=1,
            batch_format="pyarrow",
            fn_kwargs={"schema": live_schema(fragment_urls)},
        )
        ds.context.target_max_block_size = BLOCK_BYTES  # the global stage's steps too
        result = run_global(DocFrame(ds))
        if isinstance(result, DocFrame):
            ds = result.dataset
        else:  # a global stage's result in the driver: blocks for the workers, not one task
            ds = ray.data.from_arrow(byte_slices(result.to_arrow(), BLOCK_BYTES))
            ds.context.target_max_block_size = BLOCK_BYTES
        stages = [self.scheduled(p) for p in work.stages]
        if any(uses_actor_pool(p) for p in stages):
            # A shuffle's aggregator actors live as long as its consumers run; actor-pool
            # stages downstream then wait forever for CPUs on a small cluster. Finishing
            # the global stage first frees them (the object store spills what is large).
            ds = ds.materialize()
        yield from _descriptors(_stages_then_write(ds, work, stages, self.cluster))

    def run_tasks(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        import ray

        self._retire_workers()

        remote = ray.remote(num_cpus=1, max_retries=5)(fn)
        try:
            return ray.get([remote.remote(*args) for args in calls])
        except Exception as exc:
            raise run_error(exc) from exc


def _stages_then_write(
    ds: Any, work: PhaseWork, stages: list[PlannedStage], cluster: dict[str, float]
) -> Any:
    scope = task_scope(work.run_id, work.phase_dir)
    for planned in stages:
        ds = add_stage(ds, planned, work.plugins, scope, cluster)
    return ds.map_batches(
        write_fragments,
        batch_size=None,
        batch_format="pyarrow",
        fn_kwargs={
            "phase_dir": work.phase_dir,
            "compression": work.compression,
            "guard": work.guard,
            "rejected_text": work.rejected_text,
            "scope": scope,
        },
    )


def _descriptors(ds: Any) -> Iterator[dict[str, Any]]:
    try:
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            yield from batch.to_pylist()
    except Exception as exc:
        raise run_error(exc) from exc


def add_stage(
    ds: Any, planned: PlannedStage, plugins: list[str], scope: str, cluster: dict[str, float]
) -> Any:
    stage = planned.stage
    res = planned.resources
    cls = type(stage)
    travel_by_value(cls)
    kwargs = {
        "stage_cls": cls,
        "params": stage.params.model_dump(),
        "instance_name": stage.instance_name,
        "plugins": plugins,
        "batch_rows": res.batch_size,
        "worker_gpus": math.ceil(res.num_gpus),  # what the stage's setup may use
    }
    options = stage_map_options(planned, cluster)
    if uses_actor_pool(planned):
        return ds.map_batches(StageRunner, fn_constructor_kwargs=kwargs, **options)
    return ds.map_batches(run_stage_task, fn_kwargs={**kwargs, "scope": scope}, **options)


def declared_gpus(cluster: dict[str, float]) -> int:
    """The GPUs stages may plan for: ``CLUSTER_GPUS_ENV`` when the user set it (GPU nodes an
    autoscaler starts on demand), else the cluster's."""
    given = os.environ.get(CLUSTER_GPUS_ENV, "").strip()
    with contextlib.suppress(ValueError):
        if given:
            return max(0, int(float(given)))
    return int(cluster.get("GPU", 0))


def stage_map_options(planned: PlannedStage, cluster: dict[str, float]) -> dict[str, Any]:
    """The ``map_batches`` options of a stage on a cluster with ``cluster`` resources.

    Whole blocks: a Ray batch size would make Ray bundle input files into one task to fill
    it; the stage's batch size bounds its process() calls instead (apply_stage). A GPU stage
    gets an actor pool of at most as many actors as the cluster's GPUs hold (``num_gpus``
    each, and CPUs for them); other stages are tasks.
    """
    import ray.data

    res = planned.resources
    options: dict[str, Any] = {
        "batch_size": None,
        "batch_format": "pyarrow",
        "num_cpus": res.num_cpus,
        "num_gpus": res.num_gpus or None,
    }
    if res.memory:
        options["memory"] = res.memory
    if uses_actor_pool(planned):
        fit = cluster.get("CPU", 1) / max(res.num_cpus, 0.1)
        fit = min(fit, declared_gpus(cluster) / res.num_gpus)
        size = res.concurrency or max(1, int(fit))
        options["compute"] = ray.data.ActorPoolStrategy(min_size=1, max_size=size)
    else:
        options["compute"] = (
            ray.data.TaskPoolStrategy(size=res.concurrency) if res.concurrency else None
        )
    return options


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
    quiet = not os.environ.get("CORPUSFORGE_DEBUG")  # `corpusforge --debug` sets it
    if quiet:  # Ray's own warnings (token auth, operator names) only with --debug
        logging.getLogger("ray").setLevel(logging.ERROR)
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": True,
        "logging_level": logging.ERROR if quiet else logging.WARNING,
        "configure_logging": True,
    }
    with _driver_sigterm_kept():
        _init(ray, cfg, kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = cfg.ray.progress
    ctx.print_on_execution_start = False
    # quiet: Ray Data's operator-name warnings and its ERROR echo of a failing task (our one
    # line reports that error) stay out of the terminal
    logging.getLogger("ray").setLevel(logging.ERROR if quiet else logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.CRITICAL if quiet else logging.WARNING)
    return True


def _init(ray: Any, cfg: RunConfig, kwargs: dict[str, Any]) -> None:
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
        stop_unused_daemons(ray, keep_logs=bool(os.environ.get("CORPUSFORGE_DEBUG")))


def stop_unused_daemons(ray: Any, keep_logs: bool) -> None:
    """Stop the local cluster's processes a pipeline run does not use: the autoscaler monitor
    (one fixed node), the dashboard's API server (no dashboard, no job submission to a
    cluster that lives as long as the run) and, unless ``keep_logs`` (``--debug``), the log
    monitor (it forwards workers' output to the terminal; a failure comes back as the task's
    error either way). About 170 MB less for the run (PSS, README_e2e.md). Ray 2.60's
    ``ray.init()`` starts them with no option to skip them (``ray start`` has ``--no-monitor``
    and ``--include-log-monitor``); the raylet, GCS and agents do not depend on them.
    """
    node = ray._private.worker._global_node
    if node is None:
        return
    stops = [node.kill_monitor, node.kill_dashboard]
    if not keep_logs:
        stops.append(node.kill_log_monitor)
    for stop in stops:
        with contextlib.suppress(Exception):  # already gone, or a Ray without the process
            stop(check_alive=False)


@contextlib.contextmanager
def _driver_sigterm_kept() -> Iterator[None]:
    """``ray.init()`` replaces the driver's SIGTERM handler (Ray's own exits at once, its core
    library's aborts with a stack dump). A handler the driver installed itself (the CLI turns
    SIGTERM into an interrupt, so the run is recorded ``interrupted``) is put back."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if callable(before):
            signal.signal(signal.SIGTERM, before)


_NOTE_LINE = re.compile(
    rf"^\s*{re.escape(errors_module.NOTE_PREFIX)}exit (\d+); hint: (.*)$", re.MULTILINE
)
_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$", re.MULTILINE)


def _original_error(exc: BaseException) -> CorpusforgeError | None:
    """Our own error inside Ray's wrappers (RayTaskError.cause, UserCodeException's
    __cause__), when it travelled as an object."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, CorpusforgeError):
            return e
        todo += [getattr(e, "cause", None), e.__cause__, e.__context__]
    return None


def _noted_error(text: str) -> CorpusforgeError | None:
    """Our error in a worker's traceback text: the line ``module.Class: message`` right before
    the note every CorpusforgeError carries (``corpusforge: exit N; hint: ...``)."""
    note = _NOTE_LINE.search(text)
    if note is None:
        return None
    line = text[: note.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
    qualname, sep, message = line.partition(": ")
    if not sep:
        return None
    code, hint = int(note.group(1)), note.group(2).strip() or None
    cls = getattr(errors_module, qualname.rsplit(".", 1)[-1], None)
    if not (isinstance(cls, type) and issubclass(cls, CorpusforgeError)):
        cls = errors_module.ConfigError if code == 2 else RunError  # a stage's own subclass
    return cls(message, hint=hint)


def run_error(exc: BaseException) -> CorpusforgeError:
    """Unwrap Ray's task errors to the error a stage or reader raised.

    Ray Data re-raises worker errors as text (the original object does not travel), so the
    root cause is found in the message: engine errors come back as their own class, anything
    else as one line naming the exception, without Ray's wrapping.
    """
    if isinstance(exc, CorpusforgeError):
        return exc
    original = _original_error(exc) or _noted_error(str(exc))
    if original is not None:  # one of our errors: its message, hint and exit code
        return original
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

"""What a worker process keeps between tasks: one phase's stage instances, and the driver
loads no model library for the stages it only validates and plans."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from pathlib import Path

import pyarrow as pa
import pytest
from engine_helpers import UpperStage  # importing registers the test stages

from corpusforge.pipeline.api import Stage
from corpusforge.pipeline.api.reader import conform_documents
from corpusforge.pipeline.engine import execute

RECIPE = Path(__file__).resolve().parents[2] / "examples" / "web_recipe.yaml"


def _run(scope: str, name: str) -> pa.Table:
    table = conform_documents(pa.table({"id": ["a"], "text": ["abc"]}))
    return execute.run_stage_task(table, UpperStage, {}, name, [], scope)


def test_a_new_phase_drops_the_stage_instances_of_the_earlier_one() -> None:
    execute._TASK_STAGES.clear()
    first = execute.task_scope("run1", "/out/_work/phase0")
    _run(first, "upper_a")
    _run(first, "upper_b")
    kept = execute._TASK_STAGES[(first, "upper_a")]
    assert _run(first, "upper_a").column("text").to_pylist() == ["ABC"]
    assert execute._TASK_STAGES[(first, "upper_a")] is kept  # set up once per phase

    second = execute.task_scope("run1", "/out/_work/phase2")
    _run(second, "upper_a")
    assert set(execute._TASK_STAGES) == {(second, "upper_a")}

    execute.drop_stage_instances()  # an output shard's writer runs no stage
    assert not execute._TASK_STAGES


class _Node:
    """Something a setup builds that refers to itself (as model graphs do)."""

    def __init__(self) -> None:
        self.me = self


class CycleStage(Stage):
    name = "test_cycle_setup"

    def setup(self) -> None:
        self.node = _Node()

    def process(self, batch: pa.Table) -> pa.Table:
        return batch


def test_a_worker_freezes_what_setup_built_and_unfreezes_it_to_drop_a_phase() -> None:
    """After a stage's setup the worker collects once and freezes what lives (no later
    collection walks a model's objects again); dropping the phase's stages unfreezes, so
    their reference cycles are collected, not kept for the worker's life."""
    execute._TASK_STAGES.clear()
    scope = execute.task_scope("run2", "/out/_work/phase0")
    try:
        table = conform_documents(pa.table({"id": ["a"], "text": ["abc"]}))
        execute.run_stage_task(table, CycleStage, {}, "cycle", [], scope)
        stage = execute._TASK_STAGES[(scope, "cycle")].stage
        node = weakref.ref(stage.node)
        assert gc.get_freeze_count() > 0
        stage.node = None  # only its own cycle keeps the node now
        gc.collect()
        assert node() is not None  # frozen: the collection did not look at it
        del stage
        execute.drop_stage_instances()
        assert gc.get_freeze_count() == 0
        assert node() is None  # the dropped phase's cycle was collected
    finally:
        gc.unfreeze()
        execute._TASK_STAGES.clear()


def test_the_driver_plans_the_web_recipe_without_model_libraries() -> None:
    """Validating and planning the stages of the web recipe imports neither spaCy nor
    Presidio nor PyTorch (they load in the workers, when a stage is set up)."""
    code = (
        "import sys, yaml\n"
        "from corpusforge.pipeline.config import RunConfig\n"
        "from corpusforge.pipeline.engine.plan import build_stages\n"
        f"cfg = yaml.safe_load(open({str(RECIPE)!r}))\n"
        "cfg['input'] = {'paths': ['x.jsonl'], 'format': 'jsonl'}\n"
        "planned = build_stages(RunConfig.model_validate(cfg))\n"
        "assert len(planned) > 8\n"
        "print(sorted(m for m in ('spacy', 'presidio_analyzer', 'torch', 'thinc') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.slow
def test_a_local_run_keeps_only_the_ray_processes_it_uses() -> None:
    """The local Ray a run starts has no autoscaler monitor, log monitor or dashboard (Ray
    Data still runs on it), and after phase 0 its workers are replaced by fresh ones."""
    code = (
        "import os, psutil, ray\n"
        "from corpusforge.pipeline.backends.ray.executor import RayExecutor\n"
        "from corpusforge.pipeline.config import RunConfig\n"
        "cfg = RunConfig.model_validate({'input': {'paths': ['x']}, 'output': {'path': 'o'},"
        " 'stages': [], 'ray': {'num_cpus': 1, 'progress': False}})\n"
        "ex = RayExecutor(cfg)\n"
        "ex.start()\n"
        "assert ray.data.range(100).sum('id') == 4950\n"
        "cmds = [' '.join(p.cmdline()) for p in psutil.Process().children(recursive=True)]\n"
        "pid = ray.remote(lambda: os.getpid())\n"
        "before = set(ray.get([pid.remote() for _ in range(3)]))\n"
        "ex._read_ran = True  # as after phase 0: the next phase starts on fresh workers\n"
        "ex._retire_workers()\n"
        "assert not any(psutil.pid_exists(p) for p in before), before\n"
        "assert before.isdisjoint(ray.get([pid.remote() for _ in range(3)]))\n"
        "ex.stop()\n"
        "names = ('log_monitor.py', 'monitor.py', 'dashboard.py', 'gcs_server', 'raylet')\n"
        "print(sorted({n for n in names for c in cmds if '/' + n in c}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=180
    )
    assert out.stdout.strip().splitlines()[-1] == "['gcs_server', 'raylet']", (
        out.stdout + out.stderr
    )

"""``device: auto`` on Ray: the cluster's GPUs decide the tokenize stage's pool.

No GPU is needed: the Ray backend's options are built from a resources dict (a unit test of
``stage_map_options``), and on the shared local Ray (no GPUs) ``auto`` must choose the CPU.
GPUs declared through ``CORPUSFORGE_CLUSTER_GPUS`` (an autoscaling cluster's GPU nodes) make
the same real executor plan a GPU actor pool; nothing is run on it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordPiece
from tokenizers.pre_tokenizers import Whitespace

from corpusforge.pipeline.api import CLUSTER_GPUS_ENV, ConfigError
from corpusforge.pipeline.backends.ray.executor import (
    RayExecutor,
    stage_map_options,
    uses_actor_pool,
)
from corpusforge.pipeline.config import parse_config
from corpusforge.pipeline.engine.execute import StageRunner
from corpusforge.pipeline.engine.plan import PlannedStage, build_stages
from corpusforge.stages.tokenize.gpu_metrics import GpuSampler
from corpusforge.stages.tokenize.stage import TokenizeParams, TokenizeStage, resolve_device


def planned(params: dict, **overrides: float) -> PlannedStage:
    stage = TokenizeStage(params)
    return PlannedStage(stage, TokenizeStage.resources_for(stage.params).merged(overrides))


def test_gpu_stage_gets_an_actor_pool_sized_by_the_cluster(monkeypatch) -> None:
    monkeypatch.delenv(CLUSTER_GPUS_ENV, raising=False)
    gpu = planned({"tokenizer": "gpt2", "device": "gpu"})
    opts = stage_map_options(gpu, {"CPU": 16.0, "GPU": 4.0})
    assert opts["num_gpus"] == 1 and opts["num_cpus"] == 1 and opts["batch_size"] is None
    assert (opts["compute"].min_size, opts["compute"].max_size) == (1, 4)  # one actor per GPU
    half = planned({"tokenizer": "gpt2", "device": "gpu"}, num_gpus=0.5)
    assert stage_map_options(half, {"CPU": 16.0, "GPU": 4.0})["compute"].max_size == 8
    assert stage_map_options(gpu, {"CPU": 2.0, "GPU": 8.0})["compute"].max_size == 2  # CPUs
    cpu = planned({"tokenizer": "gpt2", "device": "cpu"})
    opts = stage_map_options(cpu, {"CPU": 16.0, "GPU": 4.0})
    assert opts["num_gpus"] is None and opts["compute"] is None  # tasks, fused with the reader
    assert not uses_actor_pool(cpu)


def wordpiece_json(tmp_path: Path) -> str:
    tok = Tokenizer(WordPiece({"[UNK]": 0, "a": 1, "b": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    return str(path)


def test_auto_takes_a_gpu_only_when_it_would_use_it(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CLUSTER_GPUS_ENV, "4")
    assert resolve_device(TokenizeParams(tokenizer="gpt2")) == "gpu"
    # the device path cannot run WordPiece, and hf/gigatoken are CPU implementations
    assert resolve_device(TokenizeParams(tokenizer=wordpiece_json(tmp_path))) == "cpu"
    assert resolve_device(TokenizeParams(tokenizer="gpt2", implementation="hf")) == "cpu"
    monkeypatch.setenv(CLUSTER_GPUS_ENV, "0")
    assert resolve_device(TokenizeParams(tokenizer="gpt2")) == "cpu"


def test_worker_decides_with_the_gpus_it_was_given(monkeypatch) -> None:
    monkeypatch.setenv(CLUSTER_GPUS_ENV, "4")  # the driver's cluster count
    runner = StageRunner(TokenizeStage, {"tokenizer": "gpt2"}, "tokenize", [], worker_gpus=0)
    assert runner.stage.device == "cpu" and runner.stage.backend == "gigatoken"
    assert runner.stage.take_metrics() == {}  # no GPU: no figures
    assert os.environ[CLUSTER_GPUS_ENV] == "4"


def run_config(**tokenize: str) -> dict:
    return {
        "input": {"paths": ["unused.jsonl"]},
        "output": {"path": "unused"},
        "stages": [{"tokenize": {"tokenizer": "gpt2", **tokenize}}],
    }


@pytest.mark.usefixtures("ray_session")
def test_device_auto_on_ray_without_gpus_picks_the_cpu(monkeypatch) -> None:
    monkeypatch.delenv(CLUSTER_GPUS_ENV, raising=False)
    cfg = parse_config(run_config())
    executor = RayExecutor(cfg)
    executor.start()
    try:
        assert executor.cluster.get("GPU", 0) == 0
        assert os.environ[CLUSTER_GPUS_ENV] == "0"  # what the driver's stages plan with
        (auto,) = [executor.scheduled(p) for p in build_stages(cfg)]
        assert auto.resources.num_gpus == 0 and not uses_actor_pool(auto)
        (gpu,) = build_stages(parse_config(run_config(device="gpu")))
        with pytest.raises(ConfigError, match="asks for 1 GPUs per worker; the Ray cluster has 0"):
            executor.scheduled(gpu)
    finally:
        executor.stop()
    assert CLUSTER_GPUS_ENV not in os.environ


@pytest.mark.usefixtures("ray_session")
def test_declared_gpus_give_a_gpu_actor_pool_on_ray(monkeypatch) -> None:
    monkeypatch.setenv(CLUSTER_GPUS_ENV, "2")  # GPU nodes an autoscaler starts on demand
    cfg = parse_config(run_config())
    executor = RayExecutor(cfg)
    executor.start()
    try:
        (auto,) = [executor.scheduled(p) for p in build_stages(cfg)]
        assert auto.resources.num_gpus == 1 and uses_actor_pool(auto)
        opts = stage_map_options(auto, executor.cluster)
        assert opts["num_gpus"] == 1 and opts["compute"].max_size == 2  # 2 CPUs, 2 GPUs
    finally:
        executor.stop()
    assert os.environ[CLUSTER_GPUS_ENV] == "2"


def test_gpu_sampler_without_a_gpu_reports_nothing() -> None:
    with GpuSampler(period_s=0.01) as sampler:
        time.sleep(0.05)
    if sampler.available:  # a machine with an NVIDIA GPU and driver: real samples
        assert sampler.summary()["samples"] >= 1
        assert 0 <= sampler.summary()["gpu_busy_mean_pct"] <= 100
    else:
        assert sampler.summary() == {} and sampler.take() == {}

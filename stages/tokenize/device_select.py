"""``device: auto`` for the tokenize stage: a GPU when the cluster has one, else the CPU.

The stage decides at planning time, on the driver, whether it asks for a GPU actor pool. Stage
modules do not import Ray, so the cluster's GPU count comes from the environment
(``CORPUSFORGE_CLUSTER_GPUS``: the Ray backend sets it from ``ray.cluster_resources()`` on the
driver, and in each worker to the GPUs that worker was given), else from the GPUs this process
sees (numba's CUDA driver, which needs no CuPy). On the worker, the device path is then the
all-on-GPU BPE of :mod:`gpu_tokenizer`; without a GPU the stage keeps its fastest CPU path.
"""

from __future__ import annotations

import os

from corpusforge.pipeline.api import CLUSTER_GPUS_ENV

__all__ = ["CLUSTER_GPUS_ENV", "cluster_gpus", "local_gpus", "resolve_device"]


def local_gpus() -> int:
    """CUDA devices visible to this process (0 without a driver or under the simulator)."""
    from corpusforge.stages.tokenize.gpu_backend import cuda_available

    if not cuda_available():
        return 0
    from numba import cuda

    return len(cuda.gpus)


def cluster_gpus() -> int:
    """GPUs the run may schedule on: the engine's count when it gave one, else local ones."""
    given = os.environ.get(CLUSTER_GPUS_ENV, "").strip()
    if given:
        try:
            return max(0, int(float(given)))
        except ValueError:
            pass  # a malformed value means "not given"
    return local_gpus()


def resolve_device(device: str) -> str:
    """``auto`` -> ``gpu`` when the cluster has GPUs, else ``cpu``; others unchanged."""
    if device == "auto":
        return "gpu" if cluster_gpus() > 0 else "cpu"
    return device

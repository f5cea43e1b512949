"""GPU utilisation while a device stage runs: NVML busy % and memory, sampled in a thread.

``utilization.gpu`` is NVML's share of the sample period in which at least one kernel ran
(what ``nvidia-smi`` shows); per-SM occupancy needs DCGM profiling counters, which NVML does
not expose. Without ``pynvml`` (the ``nvidia-ml-py`` package), an NVIDIA driver or a GPU, or
on a device that does not report utilisation (a MIG slice), the sampler records nothing and
its summaries are empty: no figure is better than a made-up one.

The GPU sampled is the one this process was given: NVML numbers every GPU of the machine and
ignores ``CUDA_VISIBLE_DEVICES``, so the first visible device (an index or a UUID, as Ray and
Slurm set it) is looked up by that name.
"""

from __future__ import annotations

import os
import threading
from types import TracebackType
from typing import Any


def _nvml_handle(device: int | None) -> tuple[Any, Any] | None:
    """(pynvml, handle) of ``device`` (an NVML index) or of the first visible CUDA device."""
    try:
        import pynvml

        pynvml.nvmlInit()
        if device is None:
            first = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip() or "0"
            if first.startswith(("GPU-", "MIG-")):
                return pynvml, pynvml.nvmlDeviceGetHandleByUUID(first)
            device = int(first)
        return pynvml, pynvml.nvmlDeviceGetHandleByIndex(device)
    except Exception:  # no package, no driver, no such device: nothing to sample
        return None


class GpuSampler:
    """Samples one GPU every ``period_s`` while started.

    ``with GpuSampler() as s: ...`` then ``s.summary()`` (mean/max busy %, peak memory over the
    whole run), or ``start()`` once and ``take()`` now and then (the figures since the last
    ``take()``, as a stage reports per batch).
    """

    def __init__(self, device: int | None = None, period_s: float = 0.05) -> None:
        self.period_s = period_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        found = _nvml_handle(device)
        self._nvml, self._handle = found if found else (None, None)
        self._total = self._new_window()
        self._window = self._new_window()

    @property
    def available(self) -> bool:
        return self._nvml is not None

    @staticmethod
    def _new_window() -> dict[str, float]:
        return {"n": 0, "busy_sum": 0.0, "busy_max": 0.0, "mem_max": 0.0}

    def _sample(self) -> bool:
        nv = self._nvml
        try:
            busy = float(nv.nvmlDeviceGetUtilizationRates(self._handle).gpu)
            used = float(nv.nvmlDeviceGetMemoryInfo(self._handle).used)
        except Exception:  # the device stopped answering or never reports utilisation
            return False
        with self._lock:
            for w in (self._total, self._window):
                w["n"] += 1
                w["busy_sum"] += busy
                w["busy_max"] = max(w["busy_max"], busy)
                w["mem_max"] = max(w["mem_max"], used)
        return True

    def _run(self) -> None:
        while self._sample() and not self._stop.wait(self.period_s):
            pass

    def start(self) -> GpuSampler:
        if self._nvml is not None and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="gpu-sampler", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> GpuSampler:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @staticmethod
    def _figures(w: dict[str, float]) -> dict[str, float]:
        if not w["n"]:
            return {}
        return {
            "gpu_busy_mean_pct": w["busy_sum"] / w["n"],
            "gpu_busy_max_pct": w["busy_max"],
            "gpu_mem_peak_gb": w["mem_max"] / 1e9,
            "samples": float(w["n"]),
        }

    def summary(self) -> dict[str, float]:
        """Figures over everything sampled so far; empty when nothing was."""
        with self._lock:
            return self._figures(self._total)

    def take(self) -> dict[str, float]:
        """Figures since the last ``take()`` (then a new window starts); empty when none."""
        with self._lock:
            window, self._window = self._window, self._new_window()
        return self._figures(window)

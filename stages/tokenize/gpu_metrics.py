"""GPU utilisation while a device stage runs: NVML busy % and memory, sampled in a thread.

``utilization.gpu`` is NVML's share of the sample period in which at least one kernel ran
(what ``nvidia-smi`` shows); per-SM occupancy needs DCGM profiling counters, which NVML does
not expose. Without ``pynvml`` (the ``nvidia-ml-py`` package) or a GPU, the sampler records
nothing and :meth:`GpuSampler.summary` is empty.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any


class GpuSampler:
    """``with GpuSampler() as s: ...`` then ``s.summary()``: mean/max busy %, peak memory."""

    def __init__(self, device: int = 0, period_s: float = 0.05) -> None:
        self.period_s = period_s
        self.busy: list[int] = []
        self.mem_used: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml: Any = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(device)
        except Exception:
            self._nvml = None

    def _run(self) -> None:
        nv = self._nvml
        while not self._stop.is_set():
            self.busy.append(int(nv.nvmlDeviceGetUtilizationRates(self._handle).gpu))
            self.mem_used.append(int(nv.nvmlDeviceGetMemoryInfo(self._handle).used))
            time.sleep(self.period_s)

    def __enter__(self) -> GpuSampler:
        if self._nvml is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def summary(self) -> dict[str, float]:
        if not self.busy:
            return {}
        return {
            "gpu_busy_mean_pct": sum(self.busy) / len(self.busy),
            "gpu_busy_max_pct": float(max(self.busy)),
            "gpu_mem_peak_gb": max(self.mem_used) / 1e9,
            "samples": float(len(self.busy)),
        }

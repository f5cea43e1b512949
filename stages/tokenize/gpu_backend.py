"""Where the device kernels run: a CUDA GPU, numba's CUDA simulator, or compiled CPU loops.

Every kernel of the device tokenizer is written once, as a *thread body*: a plain Python
function ``body(tid, *arrays)`` that does the work of one GPU thread. A :class:`Backend` turns
it into a launcher ``launch(n, *arrays)`` that runs ``body`` for ``tid in range(n)``:

- ``cuda``: a ``numba.cuda`` kernel, one GPU thread per ``tid``; glue arrays are CuPy;
- ``sim``: the same kernel under numba's CUDA simulator (Python threads), for CPU CI on small
  inputs: it checks the kernel-level code (grid, bounds, atomics) that ``cpu`` cannot. The
  simulator replaces ``numba.cuda`` process-wide, so ``NUMBA_ENABLE_CUDASIM=1`` must be set
  before numba is first imported (the tests run it in a subprocess);
- ``cpu``: the body compiled by ``numba.njit`` inside a sequential loop: the same logic at
  compiled speed, so parity with HF can be checked on realistic inputs without a GPU.

Bodies only call other device functions made by the same backend (:meth:`Backend.device`)
and :attr:`Backend.cas`, so one source runs on all three.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import cache
from inspect import signature
from types import FunctionType, ModuleType, SimpleNamespace
from typing import Any

import numpy as np

BACKENDS = ("cuda", "sim", "cpu")
THREADS_PER_BLOCK = 128


def cuda_available() -> bool:
    """True when numba sees a real CUDA device (never true under the simulator)."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:
        return False


def _cas_cpu(arr: Any, idx: int, old: Any, new: Any) -> Any:
    cur = arr[idx]
    if cur == old:
        arr[idx] = new
    return cur


cuda: Any = None  # numba.cuda, imported by the first GPU/simulator backend


def _cas_cuda(arr: Any, idx: int, old: Any, new: Any) -> Any:
    return cuda.atomic.cas(arr, idx, old, new)


class Backend:
    """Compiles thread bodies for one execution target (see the module docstring)."""

    def __init__(self, name: str) -> None:
        if name not in BACKENDS:
            raise ValueError(f"backend {name!r}: expected one of {', '.join(BACKENDS)}")
        self.name = name
        if name == "cpu":
            import numba

            # inlined: a call per character would otherwise pay reference counting of its arrays
            self._jit_device = numba.njit(nogil=True, inline="always")
            self.cas = self._jit_device(_cas_cpu)
        else:
            global cuda
            from numba import cuda as numba_cuda

            cuda = numba_cuda
            from numba.core import config

            if (name == "sim") != bool(config.ENABLE_CUDASIM):
                raise RuntimeError(
                    "backend 'sim' needs NUMBA_ENABLE_CUDASIM=1 set before numba is imported, "
                    "and backend 'cuda' needs it unset"
                )
            self._cuda_jit = numba_cuda
            self._jit_device = numba_cuda.jit(device=True)
            self.cas = self._jit_device(_cas_cuda)

    @property
    def xp(self) -> ModuleType:
        """The array module of the glue code: CuPy on ``cuda``, NumPy otherwise."""
        if self.name == "cuda":
            import cupy

            return cupy
        return np

    def device(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Compile ``fn`` as a device function callable from bodies of this backend."""
        return self._jit_device(fn)

    def kernel(self, body: Callable[..., Any]) -> Callable[..., None]:
        """``launch(n, *arrays)`` running ``body(tid, *arrays)`` for every ``tid < n``."""
        names = list(signature(body).parameters)[1:]
        args = ", ".join(names)
        dev = self.device(body)
        scope: dict[str, Any] = {"body": dev}
        if self.name == "cpu":
            import numba

            src = f"def run(n, {args}):\n    for tid in range(n):\n        body(tid, {args})\n"
            exec(src, scope)
            run = numba.njit(nogil=True)(scope["run"])

            def launch_cpu(n: int, *arrays: Any) -> None:
                if n > 0:
                    run(n, *arrays)

            return launch_cpu
        from numba import cuda

        scope["cuda"] = cuda  # the simulator swaps this global for its fake module
        src = (
            f"def run(n, {args}):\n"
            "    tid = cuda.grid(1)\n"
            "    if tid < n:\n"
            f"        body(tid, {args})\n"
        )
        exec(src, scope)
        run_k = self._cuda_jit.jit(scope["run"])
        # The simulator runs one Python thread per GPU thread: small blocks keep it light.
        tpb = THREADS_PER_BLOCK if self.name == "cuda" else 8

        def launch_cuda(n: int, *arrays: Any) -> None:
            if self.name == "sim":  # the simulator writes every argument back, inputs too
                arrays = tuple(
                    a.copy() if isinstance(a, np.ndarray) and not a.flags.writeable else a
                    for a in arrays
                )
            if n > 0:
                run_k[(n + tpb - 1) // tpb, tpb](n, *arrays)

        return launch_cuda

    def build(
        self, device_fns: Iterable[FunctionType], bodies: Iterable[FunctionType]
    ) -> SimpleNamespace:
        """Compile device functions and kernel bodies that call each other by global name.

        Each function is re-bound to one shared globals dict in which those names are the
        compiled versions for this backend (and ``cas`` is the backend's compare-and-swap),
        so the same module-level Python source serves every backend.
        """
        device_fns, bodies = list(device_fns), list(bodies)
        scope: dict[str, Any] = {}
        for fn in device_fns + bodies:
            scope.update(fn.__globals__)
        scope["cas"] = self.cas

        def rebind(fn: FunctionType) -> FunctionType:
            return FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)

        out = SimpleNamespace()
        for fn in device_fns:
            scope[fn.__name__] = self.device(rebind(fn))
            setattr(out, fn.__name__, scope[fn.__name__])
        for fn in bodies:
            setattr(out, fn.__name__, self.kernel(rebind(fn)))
        return out

    def to_host(self, arr: Any) -> np.ndarray:
        return arr.get() if hasattr(arr, "get") and self.name == "cuda" else np.asarray(arr)


@cache
def get_backend(name: str) -> Backend:
    return Backend(name)


def resolve_backend(name: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``."""
    if name == "auto":
        return "cuda" if cuda_available() else "cpu"
    return name

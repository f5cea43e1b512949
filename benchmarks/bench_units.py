"""One big JSONL on a 2-CPU local Ray: whole-file unit vs sub-file units (input.unit_size_mb).

Measures the wall time of the run and the CPU used by the whole process tree (driver, Ray's
daemons and workers) while it runs, as a share of the CPUs Ray was given: with one unit the
file is read by one task (one core busy), with parts both cores read. The corpus is generated
(synthetic words), so the script needs no data; ``--mb`` scales it. ``--format`` writes the
same records as zstd frames of 4 MB of input each (pzstd's layout) or as BGZF blocks
(bgzip's), to measure the compressed kinds that split.

    .venv/bin/python benchmarks/bench_units.py --mb 1000 --cpus 2
    .venv/bin/python benchmarks/bench_units.py --mb 300 --format zst
    .venv/bin/python benchmarks/bench_units.py --mb 100 --format gz --plan-cost
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import tempfile
import threading
import time
from pathlib import Path

import psutil

from corpusforge.pipeline.engine.runner import Pipeline
from corpusforge.stages.readers._frames import BGZF_EOF, bgzf_block


def make_jsonl(path: Path, mb: float) -> int:
    rnd = random.Random(0)
    vocab = [
        "".join(rnd.choices("abcdefghijklmnopqrstuvwxyz", k=rnd.randint(2, 9))) for _ in range(5000)
    ]
    n = 0
    with path.open("w") as f:
        while f.tell() < mb * 1e6:
            words = rnd.choices(vocab, k=rnd.randint(50, 400))
            f.write(json.dumps({"text": " ".join(words), "n": n}) + "\n")
            n += 1
    return n


def compress(plain: Path, fmt: str) -> Path:
    """``plain`` as multi-frame zstd (frames of 4 MB of input) or BGZF (64 kB blocks)."""
    import zstandard

    out = plain.with_name(plain.name + (".zst" if fmt == "zst" else ".gz"))
    step = 4 << 20 if fmt == "zst" else 65_280
    cctx = zstandard.ZstdCompressor(level=3)
    with plain.open("rb") as src, out.open("wb") as dst:
        while chunk := src.read(step):
            dst.write(cctx.compress(chunk) if fmt == "zst" else bgzf_block(chunk, 1))
        if fmt == "gz":
            dst.write(BGZF_EOF)
    return out


def plan_cost(path: Path, parts: int) -> dict:
    """CPU seconds of measuring every slice (the planner's tasks, run here one after the
    other) against one whole-file read by the reader alone, in this process."""
    from corpusforge.stages.readers.jsonl import JsonlReader

    size = path.stat().st_size
    ranges = JsonlReader.plan_parts(str(path), size, -(-size // parts)) or []
    t0 = time.process_time()
    for start, end in ranges:
        JsonlReader.measure_part(str(path), start, end)
    measure = time.process_time() - t0
    t0 = time.process_time()
    rows = sum(t.num_rows for t in JsonlReader().read(str(path)))
    read = time.process_time() - t0
    return {
        "input_mb": round(size / 1e6, 1),
        "slices": len(ranges),
        "measure_cpu_s": round(measure, 2),
        "read_cpu_s": round(read, 2),
        "rows": rows,
        "ratio": round(measure / read, 2),
    }


def tree_cpu_seconds() -> float:
    me = psutil.Process()
    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


class CpuSampler:
    """CPU seconds of the process tree, sampled (children that exit take theirs along)."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            me = psutil.Process()
            for p in [me, *me.children(recursive=True)]:
                try:
                    t = p.cpu_times()
                    self.seen[p.pid] = t.user + t.system
                except psutil.Error:
                    pass
            time.sleep(0.25)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def total(self) -> float:
        return sum(self.seen.values())


class Phase0Seconds(logging.Handler):
    """The engine's "phase 0 (read ...): N units in S s" log line, as seconds."""

    seconds: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("phase 0 (") and " units in " in msg:
            self.seconds = float(msg.rsplit(" in ", 1)[1].split()[0])


def run(path: Path, out: Path, unit_mb: float, cpus: int) -> dict:
    cfg = {
        "input": {"paths": [str(path)], "unit_size_mb": unit_mb},
        "output": {"path": str(out), "report": False},
        "stages": [],
        "ray": {"progress": False, "num_cpus": cpus},
    }
    phase0, logger = Phase0Seconds(), logging.getLogger("corpusforge")
    logger.addHandler(phase0)
    logger.setLevel(logging.INFO)
    with CpuSampler() as cpu:
        before = tree_cpu_seconds()
        t0 = time.perf_counter()
        result = Pipeline(cfg, resume=False).run()
        wall = time.perf_counter() - t0
    logger.removeHandler(phase0)
    used = cpu.total() - before
    return {
        "unit_size_mb": unit_mb,
        "records": result.records,
        "wall_s": round(wall, 1),
        "phase0_s": phase0.seconds,
        "cpu_s": round(used, 1),
        "cpu_util_of_cpus": round(used / (wall * cpus), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=1000)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--format", choices=["jsonl", "zst", "gz"], default="jsonl")
    ap.add_argument("--plan-cost", action="store_true", help="planning CPU vs a read; no Ray")
    args = ap.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="bench_units-"))
    root.mkdir(parents=True, exist_ok=True)
    path = root / "big.jsonl"
    if not path.exists():
        make_jsonl(path, args.mb)
    if args.format != "jsonl":
        path = compress(path, args.format)
    if args.plan_cost:
        print(json.dumps({**plan_cost(path, 9), "load": round(os.getloadavg()[0], 1)}))
        return
    size_mb = path.stat().st_size / 1e6
    print(f"input {size_mb:.0f} MB, load {os.getloadavg()[0]:.1f}")
    for unit in (0, max(size_mb / (4 * args.cpus), 1)):
        print(json.dumps(run(path, root / f"out-{unit:g}", unit, args.cpus)))
    print(f"load after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

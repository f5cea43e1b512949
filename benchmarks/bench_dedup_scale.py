"""Global dedup at scale (issue 15): exact / near dedup on synthetic slim inputs, measured.

    python benchmarks/bench_dedup_scale.py --kind exact --path shuffle --docs 1000000 5000000
    python benchmarks/bench_dedup_scale.py --kind near --path driver --docs 1000000

Documents need not exist as text: each synthetic document is its id (the engine's derived id
format, ``<12 hex>-<index>``), its source position (the "first seen" rank) and either a
64-bit text hash (16 hex characters, as ``exact_dedup`` reads it from ``dedup_text_hash``) or a
uint32 MinHash signature of 112 values (``minhash``). A cluster's members share a base
signature and each has ``PERTURB`` of its 112 values replaced by unrelated ones, so any two
members agree on at least 1 - 2 * PERTURB / 112 of their values (0.89: above the 0.7
threshold, so ``verify: signature`` accepts every pair) and share at least 28 - 2 * PERTURB
bands; documents of different clusters share no band. The ground truth is therefore exact.

Cluster mix: ONE giant cluster (``--giant``, 1.5% of all documents by default), medium ones
(100-1000 members, 2% of documents), small ones (2-10 members, 20%), singletons for the rest,
members scattered over all files. The stage's ``run()`` runs on a Ray ``DocFrame`` read from
the Parquet files (local Ray, 2 CPUs, objects spilled to ``--tmp``/spill). Afterwards (not
timed) one shuffle by the true cluster checks every cluster: all members share one
``dup_cluster``, exactly one is kept, and it is the first-seen member.

Reported: wall time of ``run()`` plus writing the marked documents (the phase's output),
peak RSS of the driver, peak summed RSS and PSS of the driver and all its descendant processes
(Ray's raylet, GCS and workers; RSS counts shared object-store pages once per process, PSS
splits them), sampled every 0.5 s, and the peak size of Ray's spill folder (every 5 s).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash
from tree_memory import tree_memory

from corpusforge.pipeline.api import GlobalContext
from corpusforge.stages.dedup.minhash import SIGNATURE_COLUMN, TEXT_HASH_COLUMN
from corpusforge.stages.dedup.stages import ExactDedup, NearDedup

NUM_PERM = 112
PERTURB = 6
FILE_DOCS = 1_000_000  # documents per synthetic source file (one Parquet file each)
TRUTH = "_truth"  # the generated cluster of each document, carried through the stage
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a bijection of uint64, so distinct inputs never collide."""
    x = (x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)) & _M64
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
    return x ^ (x >> np.uint64(31))


def cluster_layout(n: int, giant: float, seed: int) -> tuple[np.ndarray, dict[str, int]]:
    """The true cluster id of each document position, and the expected counts."""
    rng = np.random.default_rng(seed)
    sizes = [max(2, int(n * giant))]
    budget = int(n * 0.02)
    while budget > 100:
        sizes.append(min(budget, int(rng.integers(100, 1001))))
        budget -= sizes[-1]
    small = rng.integers(2, 11, size=int(n * 0.20 / 6))
    small = small[np.cumsum(small) <= n * 0.20]
    sizes = np.concatenate([np.array(sizes, dtype=np.int64), small])
    singles = n - int(sizes.sum())
    sizes = np.concatenate([sizes, np.ones(singles, dtype=np.int64)])
    cluster = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    rng.shuffle(cluster)
    multi = sizes > 1
    truth = {
        "clusters": int(multi.sum()),
        "members": int(sizes[multi].sum()),
        "kept": int(singles + multi.sum()),
        "giant": int(sizes[0]),
        "medium_clusters": int(((sizes >= 100) & (sizes < sizes[0])).sum()),
    }
    return cluster, truth


def _ids(prefix: str, start: int, count: int) -> pa.Array:
    index = pc.utf8_lpad(pc.cast(pa.array(np.arange(start, start + count)), pa.string()), 6, "0")
    return pc.binary_join_element_wise(prefix, index, "-")


def _hex16(h: np.ndarray) -> pa.Array:
    nib = (h[:, None] >> np.arange(60, -4, -4, dtype=np.uint64)[None, :]) & np.uint64(15)
    chars = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nib.astype(np.intp)].reshape(-1)
    offs = np.arange(0, 16 * len(h) + 1, 16, dtype=np.int32)
    return pa.StringArray.from_buffers(len(h), pa.py_buffer(offs), pa.py_buffer(chars.tobytes()))


def _signatures(cluster: np.ndarray, pos: np.ndarray, seed: int) -> pa.Array:
    """Base signature of the cluster with PERTURB values per document replaced."""
    rng = np.random.default_rng(seed)
    col = np.arange(NUM_PERM, dtype=np.uint64)[None, :]
    sig = _mix(cluster.astype(np.uint64)[:, None] * np.uint64(NUM_PERM) + col)
    rows = np.repeat(np.arange(len(pos)), PERTURB)
    cols = np.argsort(rng.random((len(pos), NUM_PERM)), axis=1)[:, :PERTURB].reshape(-1)
    noise = _mix(~(pos.astype(np.uint64)[rows] * np.uint64(NUM_PERM) + cols.astype(np.uint64)))
    sig[rows, cols] = noise
    values = pa.array((sig >> np.uint64(32)).astype(np.uint32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(values, NUM_PERM)


def generate(folder: str, kind: str, n: int, giant: float, seed: int) -> dict[str, int]:
    """Parquet files under ``folder`` (one per FILE_DOCS documents); returns the truth."""
    done = os.path.join(folder, "truth.json")
    if os.path.exists(done):
        return json.loads(open(done).read())
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    cluster, truth = cluster_layout(n, giant, seed)
    step = 250_000  # rows generated at once (a 112-wide signature block stays ~200 MB)
    for f, start in enumerate(range(0, n, FILE_DOCS)):
        path = f"shard-{f:05d}.jsonl"
        prefix = xxhash.xxh64_hexdigest(path.encode())[:12]
        count = min(FILE_DOCS, n - start)
        with pq.ParquetWriter(os.path.join(folder, f"part-{f:05d}.parquet"), _schema(kind)) as w:
            for lo in range(0, count, step):
                m = min(step, count - lo)
                pos = np.arange(start + lo, start + lo + m)
                c = cluster[pos]
                cols = {
                    "id": _ids(prefix, lo, m),
                    "source_path": pa.array([path] * m),
                    "source_index": pa.array(np.arange(lo, lo + m)),
                    TRUTH: pa.array(c),
                }
                if kind == "exact":
                    cols[TEXT_HASH_COLUMN] = _hex16(_mix(c))
                else:
                    cols[SIGNATURE_COLUMN] = _signatures(c, pos, seed + 1 + start + lo)
                w.write_table(pa.table(cols, schema=_schema(kind)))
    with open(done, "w") as fh:
        fh.write(json.dumps(truth))
    return truth


def _schema(kind: str) -> pa.Schema:
    last = (
        (TEXT_HASH_COLUMN, pa.string())
        if kind == "exact"
        else (SIGNATURE_COLUMN, pa.list_(pa.uint32(), NUM_PERM))
    )
    base = [("id", pa.string()), ("source_path", pa.string()), ("source_index", pa.int64())]
    return pa.schema([*base, (TRUTH, pa.int64()), last])


class TreeSampler(threading.Thread):
    """Peak RSS of this process, peak summed RSS / PSS of it and all its descendants, and the
    peak size of Ray's spill folder."""

    def __init__(self, spill_dir: str, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.interval, self.stop = interval, threading.Event()
        self.driver = self.rss = self.pss = self.spilled = 0
        self.me, self.spill_dir = psutil.Process(), spill_dir

    def run(self) -> None:
        tick = 0
        while not self.stop.is_set():
            if tick % 10 == 0:  # spilled objects are deleted once freed: sample the peak
                self.spilled = max(self.spilled, _du(self.spill_dir))
            tick += 1
            rows = tree_memory(self.me)
            for pid, _, rss, _ in rows:
                if pid == self.me.pid:
                    self.driver = max(self.driver, rss)
            self.rss = max(self.rss, sum(r[2] for r in rows))
            self.pss = max(self.pss, sum(r[3] for r in rows))
            self.stop.wait(self.interval)


def check(out, truth: dict[str, int]) -> dict[str, int]:
    """One shuffle by the true cluster: per cluster, members, kept and whether it is right."""

    def per_cluster(t: pa.Table) -> pa.Table:
        if t.num_rows == 0:
            return pa.table({"clusters": [0], "members": [0], "kept": [0], "bad": [0]})
        t = t.sort_by(
            [(TRUTH, "ascending"), ("source_path", "ascending"), ("source_index", "ascending")]
        )
        key = t[TRUTH].to_numpy()
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        group = np.cumsum(first) - 1
        size = np.bincount(group)
        kept = pc.is_null(t["_reason"]).to_numpy(zero_copy_only=False)
        label = t["dup_cluster"]
        label_first = label.take(pa.array(np.flatnonzero(first)[group]))
        same_label = pc.fill_null(pc.equal(label, label_first), False).to_numpy(
            zero_copy_only=False
        )
        multi = size[group] > 1
        # right: the first-seen member kept, the others rejected, one label per cluster
        ok = np.where(first, kept, ~kept) & np.where(
            multi, same_label, pc.is_null(label).to_numpy(zero_copy_only=False)
        )
        return pa.table(
            {
                "clusters": [int((size > 1).sum())],
                "members": [int(size[size > 1].sum())],
                "kept": [int(kept.sum())],
                "bad": [int((~ok).sum())],
            }
        )

    slim = out.select([TRUTH, "source_path", "source_index", "_reason", "dup_cluster"])
    parts = slim.partition_map(TRUTH, per_cluster, num_partitions=64).materialize()
    got = {k: parts.sum(k) for k in ("clusters", "members", "kept", "bad")}
    expected = {k: truth[k] for k in ("clusters", "members", "kept")} | {"bad": 0}
    if got != expected:
        raise SystemExit(f"WRONG: got {got}, truth {expected}")
    return got


def run_one(args: argparse.Namespace, n: int) -> dict:
    import ray

    from corpusforge.pipeline.backends.ray.frame import DocFrame

    folder = os.path.join(args.tmp, f"{args.kind}_{n}_g{args.giant}")
    t0 = time.time()
    # in a child process: the driver's peak RSS is then the stage's, not the generator's heap
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        truth = pool.submit(generate, folder, args.kind, n, args.giant, args.seed).result()
    gen_s = time.time() - t0
    spill = os.path.join(args.tmp, "spill")
    shutil.rmtree(spill, ignore_errors=True)
    sampler = TreeSampler(spill)
    sampler.start()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        _system_config={
            "object_spilling_config": json.dumps(
                {"type": "filesystem", "params": {"directory_path": spill}}
            )
        },
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    load0 = os.getloadavg()
    from corpusforge.pipeline.backends.ray.executor import BLOCK_BYTES

    ds = ray.data.read_parquet(folder)
    ds.context.target_max_block_size = BLOCK_BYTES  # as a run's global phase reads fragments
    docs = DocFrame(ds)
    work = os.path.join(args.tmp, "run")
    shutil.rmtree(work, ignore_errors=True)
    ctx = GlobalContext(work_dir=os.path.join(work, "w"), output_dir=os.path.join(work, "o"))
    limit = 0 if args.path == "shuffle" else n
    if args.kind == "exact":
        stage = ExactDedup(local_max_docs=limit, write_index=False)
    else:
        stage = NearDedup(local_max_docs=limit, verify="signature", write_index=False)
    t0 = time.time()
    out = stage.run(docs, ctx)
    out.write_parquet(os.path.join(work, "out"))  # the phase's output: every document marked
    wall = time.time() - t0
    load1 = os.getloadavg()
    got = check(DocFrame(ray.data.read_parquet(os.path.join(work, "out"))), truth)
    sampler.stop.set()
    sampler.join()
    ray.shutdown()
    shutil.rmtree(work, ignore_errors=True)
    return {
        "kind": args.kind,
        "path": args.path,
        "docs": n,
        "gen_s": round(gen_s, 1),
        "wall_s": round(wall, 1),
        "driver_rss_mb": round(sampler.driver / 2**20),
        "tree_rss_mb": round(sampler.rss / 2**20),
        "tree_pss_mb": round(sampler.pss / 2**20),
        "spilled_mb": round(sampler.spilled / 2**20),
        "truth": truth,
        "checked": got,
        "stats": stage.last_stats,
        "load_before": [round(x, 2) for x in load0],
        "load_after": [round(x, 2) for x in load1],
    }


def _du(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--kind", choices=["exact", "near"], default="exact")
    ap.add_argument("--path", choices=["shuffle", "driver"], default="shuffle")
    ap.add_argument("--giant", type=float, default=0.015, help="giant cluster share of docs")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--tmp", default="/tmp/cf_dedup_scale")
    ap.add_argument("--keep-data", action="store_true", help="keep the generated inputs")
    args = ap.parse_args()
    for n in args.docs:
        r = run_one(args, n)
        print(json.dumps(r), flush=True)
        if not args.keep_data:
            shutil.rmtree(os.path.join(args.tmp, f"{args.kind}_{n}_g{args.giant}"))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

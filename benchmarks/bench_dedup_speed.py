"""Near-dedup speed and memory: ours (Ray Data, 2 CPUs) vs datatrove MinHash (2 workers).

    python benchmarks/bench_dedup_speed.py --corpus /tmp/bench_std [--skip-datatrove]
    python benchmarks/bench_dedup_speed.py --kernels --corpus /tmp/bench_small --max-mb 20

``--kernels``: MinHash signatures alone, one process, one thread (RAYON_NUM_THREADS=1), MB/s of
UTF-8 text per core, side by side on the same texts: ours (numba shingles over the Arrow buffer
+ rensa from the flat hashes, what the stage runs), ours with a numba permutation kernel instead
of rensa, rensa as documented (Python shingles -> ``digest_matrix_from_token_sets``), and
datatrove's ``MinhashDedupSignature`` shingling + signature per document.

Same parameters on both sides: 5-gram word shingles, 14 bands x 8 rows (112 hashes),
64-bit hashes. Both read the same ``corpus/*.jsonl.gz`` shards.

- signatures: ours = the ``minhash`` per-batch stage over a Ray Dataset read from the shards;
  datatrove = JsonlReader -> MinhashDedupSignature, one task per shard, 2 workers.
- whole phase: ours = ``near_dedup`` end to end (signatures, band shuffle, components,
  keepers, marking every document); datatrove = signatures + buckets + cluster + filter
  (writing the kept documents).

Peak memory: the driver process for ours (text is read and processed by Ray workers, so it
must stay flat from 30 MB to 300 MB), and the largest child process for datatrove.
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import sys
import tempfile
import time

import numba as nb
import numpy as np
import ray

from corpusforge.pipeline.api import GlobalContext, Resources
from corpusforge.pipeline.backends.ray.frame import DocFrame
from corpusforge.stages.dedup.minhash import MinHashStage
from corpusforge.stages.dedup.stages import NearDedup


def _rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def ours(shards: list[str], tmp: str) -> dict:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False

    def docs() -> DocFrame:
        ds = ray.data.read_json(shards, arrow_open_stream_args={"compression": "gzip"})
        return DocFrame(ds.select_columns(["id", "text"]))

    n = docs().count()
    t0 = time.time()
    sig = docs().map_batches(MinHashStage(), resources=Resources(batch_size=256)).materialize()
    t_sig = time.time() - t0
    del sig
    t0 = time.time()
    ctx = GlobalContext(work_dir=os.path.join(tmp, "w"), output_dir=os.path.join(tmp, "o"))
    stage = NearDedup()
    out = stage.run(docs(), ctx)
    kept = out.map_blocks(lambda t: t.filter(t["_reason"].is_null())).count()
    t_all = time.time() - t0
    ray.shutdown()
    return {
        "docs": n,
        "sig_s": t_sig,
        "all_s": t_all,
        "kept": kept,
        "stats": stage.last_stats,
        "driver_rss_mb": _rss_mb(resource.RUSAGE_SELF),
    }


def datatrove(shards: list[str], tmp: str) -> dict:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    cfg = MinhashConfig(
        n_grams=5, num_buckets=14, hashes_per_bucket=8, hash_config=HashConfig(precision=64)
    )
    folder = os.path.dirname(shards[0])
    base = os.path.join(tmp, "dt")
    ntasks = len(shards)

    def reader() -> JsonlReader:
        return JsonlReader(folder, glob_pattern="*.jsonl.gz")

    def run(pipeline, tasks, name) -> float:
        t0 = time.time()
        LocalPipelineExecutor(
            pipeline=pipeline, tasks=tasks, workers=2, logging_dir=os.path.join(base, name)
        ).run()
        return time.time() - t0

    t_sig = run([reader(), MinhashDedupSignature(f"{base}/sigs", config=cfg)], ntasks, "s")
    t_b = run(
        [MinhashDedupBuckets(f"{base}/sigs", f"{base}/buckets", config=cfg)],
        cfg.num_buckets,
        "b",
    )
    t_c = run([MinhashDedupCluster(f"{base}/buckets", f"{base}/ids", config=cfg)], 1, "c")
    t_f = run(
        [reader(), MinhashDedupFilter(f"{base}/ids"), JsonlWriter(f"{base}/out")], ntasks, "f"
    )
    return {
        "sig_s": t_sig,
        "all_s": t_sig + t_b + t_c + t_f,
        "steps_s": (t_sig, t_b, t_c, t_f),
        "child_rss_mb": _rss_mb(resource.RUSAGE_CHILDREN),
    }


# The alternative to rensa for the permutation step: same family as rensa's, (a * x + b) mod
# 2**64 per permutation on the 64-bit shingle hash, top 32 bits kept. Not used by the stage.
@nb.njit(cache=True)
def _kernel(hashes, starts, a, b):
    n, width = len(starts) - 1, len(a)
    sig = np.empty((n, width), dtype=np.uint32)
    cur = np.empty(width, dtype=np.uint64)
    for d in range(n):
        cur[:] = np.uint64(0xFFFFFFFFFFFFFFFF)
        for s in range(starts[d], starts[d + 1]):
            x = hashes[s]
            for p in range(width):
                cur[p] = min(cur[p], a[p] * x + b[p])
        for p in range(width):
            sig[d, p] = np.uint32(cur[p] >> np.uint64(32))
    return sig


def numba_signatures(hashes: np.ndarray, starts: np.ndarray, num_perm: int, seed: int):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return _kernel(hashes, starts, a, b)


def _best_of(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def kernels(corpus: str, max_mb: float | None) -> None:
    os.environ["RAYON_NUM_THREADS"] = "1"
    import pyarrow as pa
    import pyarrow.compute as pc
    import rensa

    from corpusforge.stages.dedup.kernels import normalize_text, shingle_hashes
    from corpusforge.stages.dedup.minhash import minhash_signatures

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from dedup_common import load_corpus

    texts = pa.concat_arrays([t["text"].combine_chunks() for t in load_corpus(corpus, max_mb)])
    mb = pc.sum(pc.binary_length(texts)).as_py() / 1e6
    minhash_signatures(texts.slice(0, 10), num_perm=112, ngram=5)  # JIT/cache load, table
    h, s = shingle_hashes(texts, 5, 1)
    numba_signatures(h[:10], s[:2], 112, 1)
    rows = {
        "ours: numba shingles + rensa flat hashes (the stage)": lambda: minhash_signatures(
            texts, num_perm=112, ngram=5
        ),
        "  of it, numba shingling alone": lambda: shingle_hashes(texts, 5, 1),
        "ours with a numba permutation kernel instead of rensa": lambda: numba_signatures(
            *shingle_hashes(texts, 5, 1), 112, 1
        ),
    }

    def rensa_documented() -> None:
        sets = []
        for norm in normalize_text(texts, "full").to_pylist():
            w = norm.split()
            grams = {" ".join(w[i : i + 5]) for i in range(len(w) - 4)} if len(w) >= 5 else {norm}
            sets.append(grams)
        rensa.RMinHash.digest_matrix_from_token_sets(sets, 112, 1)

    rows["rensa 0.5 as documented: Python shingles + digest_matrix_from_token_sets"] = (
        rensa_documented
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.hashing import HashConfig

    cfg = MinhashConfig(5, 14, 8, hash_config=HashConfig(precision=64))
    dt = MinhashDedupSignature("/tmp/unused_dt_sigs", config=cfg)
    sample = texts.to_pylist()
    # (datatrove's get_signature fails on a document without shingles: those are skipped)
    rows["datatrove MinhashDedupSignature get_shingles + get_signature"] = lambda: [
        dt.get_signature(sh) for t in sample if len(sh := dt.get_shingles(t))
    ]
    print(f"{len(texts)} documents, {mb:.1f} MB; CPU seconds, best of 3, one thread")
    base = None
    for name, fn in rows.items():
        secs = _best_of(fn, 1 if name.startswith(("rensa", "datatrove")) else 3)
        base = base or secs
        print(f"| {name} | {secs:.2f} s | {mb / secs:.1f} MB/s | {secs / base:.1f}x |", flush=True)
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/tmp/bench_std")
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument("--kernels", action="store_true", help="signature kernels alone, per core")
    ap.add_argument("--max-mb", type=float, default=None)
    args = ap.parse_args()
    if args.kernels:
        kernels(args.corpus, args.max_mb)
        return
    shards = sorted(glob.glob(os.path.join(args.corpus, "corpus", "*.jsonl.gz")))
    mb = sum(os.path.getsize(s) for s in shards) / 1e6
    print(f"corpus {args.corpus}: {len(shards)} shards, {mb:.1f} MB gzipped", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        o = ours(shards, tmp)
        n = o["docs"]
        print(
            f"ours: {n} docs; signatures {o['sig_s']:.1f} s ({n / o['sig_s']:.0f} docs/s); "
            f"whole near_dedup {o['all_s']:.1f} s ({n / o['all_s']:.0f} docs/s); "
            f"kept {o['kept']}; driver peak RSS {o['driver_rss_mb']:.0f} MB",
            flush=True,
        )
        print(f"ours stats: {o['stats']}", flush=True)
        if args.skip_datatrove:
            return
        d = datatrove(shards, tmp)
        print(
            f"datatrove: signatures {d['sig_s']:.1f} s ({n / d['sig_s']:.0f} docs/s); "
            f"whole {d['all_s']:.1f} s ({n / d['all_s']:.0f} docs/s) "
            f"[sig/buckets/cluster/filter {', '.join(f'{x:.1f}' for x in d['steps_s'])}]; "
            f"worker peak RSS {d['child_rss_mb']:.0f} MB"
        )
        print(
            f"ratio ours/datatrove docs/s: signatures {d['sig_s'] / o['sig_s']:.2f}x, "
            f"whole {d['all_s'] / o['all_s']:.2f}x"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""Near-dedup accuracy against make_corpus.py ground truth: ours (old and new banding) vs
datatrove's MinHash pipeline, with time and peak memory of each, in one run.

    python benchmarks/bench_dedup_accuracy.py --corpus /tmp/bench_small [--shuffle]

Sides (every side reads the same ``corpus/*.jsonl.gz``, 5-gram word shingles):

- ``old``: our ``near_dedup`` as it shipped before, 14 bands x 8 rows, threshold 0.8, every band
  collision a duplicate (``bands=14, rows=8, verify=none``);
- ``new@0.7`` (the default) and ``new@0.8``: recall banding (28 x 4, 22 x 5), candidates
  verified on the signature then on the texts near the threshold;
- ``datatrove``: MinhashDedupSignature/Buckets/Cluster/Filter, 14 x 8, 64-bit hashes,
  ``LocalPipelineExecutor`` with 2 workers; the kept document of a removed one is its cluster's
  survivor (``save_cluster_id``).

Ours run on a local Ray with 2 CPUs on the driver path (``--shuffle`` adds the new default on the
shuffle path, ``local_max_docs=0``). Memory: the peak summed RSS of this process and all its
children (Ray workers, datatrove's processes), sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable

import psutil
import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dedup_common import datatrove_minhash, load_corpus, print_score, score
from tree_memory import tree_rss

OURS = {
    "old 14x8 @0.8, no verify": dict(threshold=0.8, bands=14, rows=8, verify="none"),
    "new default @0.7": dict(),
    "new @0.8": dict(threshold=0.8),
}


class TreePeak:
    """Peak RSS (MB) of this process plus all descendants while the block runs."""

    def __enter__(self) -> TreePeak:
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(me) / 2**20)
            time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(fn: Callable[[], pa.Table]) -> tuple[pa.Table, float, float]:
    with TreePeak() as peak:
        t0 = time.time()
        out = fn()
        secs = time.time() - t0
    return out, secs, peak.peak


def run_ours(tables: list[pa.Table], params: dict, tmp: str) -> tuple[pa.Table, dict]:
    from corpusforge.pipeline.api import GlobalContext
    from corpusforge.pipeline.backends.ray.frame import DocFrame, RayFrameSource
    from corpusforge.stages.dedup.stages import NearDedup

    stage = NearDedup(write_index=False, **params)
    ctx = GlobalContext(work_dir="", output_dir=tmp, frames=RayFrameSource())
    out = stage.run(DocFrame.from_tables(tables), ctx).to_arrow()
    outcomes = pa.table(
        {"id": out["id"], "removed": out["_reason"].is_valid(), "kept_id": out["_detail"]}
    )
    return outcomes, stage.last_stats


def run_datatrove(corpus: str, tmp: str) -> pa.Table:
    dt = datatrove_minhash()
    cfg, m = dt.cfg, dt.m
    folder = os.path.join(corpus, "corpus")
    tasks = len(glob.glob(os.path.join(folder, "*.jsonl.gz")))
    base = os.path.join(tmp, "dt")

    def reader():
        return dt.reader(folder, glob_pattern="*.jsonl.gz")

    def run(pipeline, n, name) -> None:
        log = os.path.join(base, "logs", name)
        dt.executor(pipeline=pipeline, tasks=n, workers=2, logging_dir=log).run()

    run([reader(), m.MinhashDedupSignature(f"{base}/sigs", config=cfg)], tasks, "s")
    run([m.MinhashDedupBuckets(f"{base}/sigs", f"{base}/b", config=cfg)], cfg.num_buckets, "b")
    cluster = m.MinhashDedupCluster(f"{base}/b", f"{base}/ids", config=cfg, save_cluster_id=True)
    run([cluster], 1, "c")
    removed = dt.writer(f"{base}/removed", compression=None)
    keep = m.MinhashDedupFilter(f"{base}/ids", exclusion_writer=removed, load_cluster_ids=True)
    run([reader(), keep, dt.writer(f"{base}/kept", compression=None)], tasks, "f")
    return _datatrove_outcomes(base)


def _datatrove_outcomes(base: str) -> pa.Table:
    rows = {}
    for kind in ("kept", "removed"):
        for path in glob.glob(f"{base}/{kind}/*.jsonl"):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    rec = json.loads(line)
                    rows[rec["id"]] = (kind, rec["metadata"].get("minhash_cluster_id", -1))
    keeper = {c: i for i, (k, c) in rows.items() if k == "kept" and c != -1}
    ids = list(rows)
    return pa.table(
        {
            "id": ids,
            "removed": [rows[i][0] == "removed" for i in ids],
            "kept_id": [keeper.get(rows[i][1]) if rows[i][0] == "removed" else None for i in ids],
        }
    )


def _summary(name: str, s: dict, secs: float, peak: float) -> dict:
    bins = {b: (n, r) for b, n, r in s["bins"]}
    return {"name": name, "secs": secs, "peak_mb": peak, "score": s, "bins": bins}


def _print_table(results: list[dict], load: str) -> None:
    order = ["exact", ">=0.9", "0.8-0.9", "0.7-0.8", "0.5-0.7", "<0.5"]
    print(f"\n| true Jaccard | pairs | {' | '.join(r['name'] for r in results)} |")
    print("|---|---|" + "---|" * len(results))
    for b in order:
        n = next((r["bins"][b][0] for r in results if b in r["bins"]), 0)
        cells = [f"{r['bins'][b][1]:.3f}" if b in r["bins"] else "-" for r in results]
        print(f"| {b} | {n} | {' | '.join(cells)} |")
    for key, label in (("ge08", "near dups J >= 0.8"), ("ge07", "near dups J >= 0.7")):
        cells = ["-" if r[key] is None else f"{r[key]:.3f}" for r in results]
        print(f"| **{label}** | | {' | '.join(cells)} |")
    prec = [f"{r['score']['precision']:.4f} ({r['score']['removed']})" for r in results]
    print(f"| precision (removed) | | {' | '.join(prec)} |")
    secs = " | ".join(f"{r['secs']:.1f}" for r in results)
    peaks = " | ".join(f"{r['peak_mb']:.0f}" for r in results)
    print(f"| wall time, s | | {secs} |")
    print(f"| peak RSS, tree, MB | | {peaks} |")
    print(f"load average: {load}")


def _ge(bins: dict, names: list[str]) -> float | None:
    """Recall over the named buckets; None when the corpus has no pair there."""
    n = sum(bins[b][0] for b in names if b in bins)
    if n == 0:
        return None
    return sum(bins[b][0] * bins[b][1] for b in names if b in bins) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/tmp/bench_small")
    ap.add_argument("--shuffle", action="store_true", help="also the new default on Ray shuffles")
    ap.add_argument("--skip-datatrove", action="store_true")
    args = ap.parse_args()
    import ray

    tables = load_corpus(args.corpus)
    truth = os.path.join(args.corpus, "truth.parquet")
    print(f"corpus {args.corpus}: {sum(t.num_rows for t in tables)} documents", flush=True)
    sides = dict(OURS)
    if args.shuffle:
        sides["new default, shuffle path"] = dict(local_max_docs=0)
    results = []
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    with tempfile.TemporaryDirectory() as tmp:
        for name, params in sides.items():
            (out, stats), secs, peak = timed(lambda p=params: run_ours(tables, p, tmp))
            print(f"{name}: {secs:.1f} s, peak {peak:.0f} MB, {stats}", flush=True)
            results.append(_summary(name, score(truth, out), secs, peak))
            print_score(name, results[-1]["score"])
        ray.shutdown()
        if not args.skip_datatrove:
            out, secs, peak = timed(lambda: run_datatrove(args.corpus, tmp))
            results.append(_summary("datatrove 14x8", score(truth, out), secs, peak))
            print_score("datatrove", results[-1]["score"])
    for r in results:
        r["ge08"] = _ge(r["bins"], [">=0.9", "0.8-0.9"])
        r["ge07"] = _ge(r["bins"], [">=0.9", "0.8-0.9", "0.7-0.8"])
    _print_table(results, " ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()

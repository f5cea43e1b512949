"""Near-dedup accuracy against make_corpus.py ground truth: ours vs datasketch.MinHashLSH.

    python benchmarks/bench_dedup_accuracy.py --corpus /tmp/bench_small [--verify]

Ours: the ``near_dedup`` global stage with its defaults (threshold 0.8, 112 hashes, 14 x 8
bands from the helper), on a local Ray with 2 CPUs. Reference: ``datasketch.MinHashLSH``
(threshold 0.8, 128 permutations, its own parameter choice), fed the same 5-gram word
shingles, keeping the first-seen document of each match (query, then insert if no match).
Prints recall per true-Jaccard bin and precision of removals for both.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import pyarrow as pa
import ray
from datasketch import MinHash, MinHashLSH

from corpusforge.pipeline.api import GlobalContext
from corpusforge.pipeline.backends.ray.frame import DocFrame
from corpusforge.stages.dedup.minhash import normalize_text
from corpusforge.stages.dedup.stages import NearDedup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dedup_common import load_corpus, print_score, score


def run_ours(tables: list[pa.Table], verify: bool) -> tuple[pa.Table, float, dict]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    with tempfile.TemporaryDirectory() as tmp:
        ctx = GlobalContext(work_dir=os.path.join(tmp, "w"), output_dir=os.path.join(tmp, "o"))
        stage = NearDedup(verify=verify)
        t0 = time.time()
        out = stage.run(DocFrame.from_tables(tables), ctx).to_arrow()
        secs = time.time() - t0
    ray.shutdown()
    outcomes = pa.table(
        {"id": out["id"], "removed": out["_reason"].is_valid(), "kept_id": out["_detail"]}
    )
    return outcomes, secs, stage.last_stats


def run_datasketch(tables: list[pa.Table]) -> tuple[pa.Table, float]:
    t0 = time.time()
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    ids, removed, kept = [], [], []
    for t in tables:
        for doc_id, norm in zip(
            t["id"].to_pylist(), normalize_text(t["text"], "full").to_pylist(), strict=True
        ):
            words = norm.split()
            grams = (
                {" ".join(words[i : i + 5]) for i in range(len(words) - 4)}
                if len(words) >= 5
                else {" ".join(words)}
            )
            m = MinHash(num_perm=128, seed=1)
            m.update_batch([g.encode("utf-8") for g in grams])
            hits = lsh.query(m)
            ids.append(doc_id)
            removed.append(bool(hits))
            kept.append(min(hits) if hits else None)
            if not hits:
                lsh.insert(doc_id, m)
    return pa.table({"id": ids, "removed": removed, "kept_id": kept}), time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/tmp/bench_small")
    ap.add_argument("--max-mb", type=float, default=None)
    ap.add_argument("--verify", action="store_true", help="ours: verify candidate edges")
    ap.add_argument("--skip-datasketch", action="store_true")
    args = ap.parse_args()
    tables = load_corpus(args.corpus, args.max_mb)
    n = sum(t.num_rows for t in tables)
    truth = os.path.join(args.corpus, "truth.parquet")
    print(f"corpus {args.corpus}: {n} documents")

    ours, secs, stats = run_ours(tables, args.verify)
    print(f"ours: {secs:.1f} s, {stats}")
    s_ours = score(truth, ours)
    print_score("ours (near_dedup defaults" + (", verify" if args.verify else "") + ")", s_ours)
    if not args.skip_datasketch:
        ref, secs_ref = run_datasketch(tables)
        print(f"\ndatasketch: {secs_ref:.1f} s")
        s_ref = score(truth, ref)
        print_score("datasketch MinHashLSH (threshold 0.8, 128 perm, keep first)", s_ref)
        print(
            f"\nrecall(J>=0.8) ours/datasketch = "
            f"{s_ours['recall_near_ge_0.8'] / max(s_ref['recall_near_ge_0.8'], 1e-9):.2f}"
        )


if __name__ == "__main__":
    main()

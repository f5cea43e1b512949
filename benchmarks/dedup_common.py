"""Shared helpers of the dedup benchmarks: load a make_corpus.py corpus, score against truth."""

from __future__ import annotations

import glob
import gzip
import json
import os
import resource
from types import SimpleNamespace

import duckdb
import pyarrow as pa


def load_corpus(corpus_dir: str, max_mb: float | None = None) -> list[pa.Table]:
    """One table per shard (id, text, source_path, source_index); stop after ``max_mb``."""
    tables, total = [], 0
    for path in sorted(glob.glob(os.path.join(corpus_dir, "corpus", "*.jsonl.gz"))):
        ids, texts = [], []
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                ids.append(rec["id"])
                texts.append(rec["text"])
                total += len(rec["text"].encode("utf-8"))
                if max_mb and total >= max_mb * 1e6:
                    break
        tables.append(
            pa.table(
                {
                    "id": ids,
                    "text": texts,
                    "source_path": [path] * len(ids),
                    "source_index": list(range(len(ids))),
                }
            )
        )
        if max_mb and total >= max_mb * 1e6:
            break
    return tables


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def score(truth_path: str, outcomes: pa.Table) -> dict:
    """Recall of duplicate pairs per Jaccard bin and precision of removed documents.

    ``outcomes``: (id, removed bool, kept_id). A copy is caught when it or its original is
    removed. A removal is correct when the kept document shares a truth cluster with it.
    """
    con = duckdb.connect()
    con.register("o", outcomes)
    bins = con.execute(
        f"""
        WITH t AS (SELECT * FROM '{truth_path}'),
        j AS (SELECT t.*, o.removed FROM t JOIN o USING (id)),
        pairs AS (
          SELECT c.kind, c.jaccard_to_original AS jac, c.removed OR orig.removed AS caught
          FROM j c JOIN j orig ON c.dup_of = orig.id
          WHERE c.kind IN ('exact_dup', 'near_dup'))
        SELECT CASE WHEN kind = 'exact_dup' THEN 'exact'
                    WHEN jac >= 0.9 THEN '>=0.9' WHEN jac >= 0.8 THEN '0.8-0.9'
                    WHEN jac >= 0.7 THEN '0.7-0.8' WHEN jac >= 0.5 THEN '0.5-0.7'
                    ELSE '<0.5' END AS bin,
               count(*) AS pairs, avg(caught::INT) AS recall
        FROM pairs GROUP BY ALL ORDER BY ALL
        """
    ).fetchall()
    ge08 = con.execute(
        f"""
        WITH t AS (SELECT * FROM '{truth_path}'),
        j AS (SELECT t.*, o.removed FROM t JOIN o USING (id))
        SELECT avg((c.removed OR orig.removed)::INT) FROM j c JOIN j orig ON c.dup_of = orig.id
        WHERE c.kind = 'near_dup' AND c.jaccard_to_original >= 0.8
        """
    ).fetchone()[0]
    prec = con.execute(
        f"""
        WITH t AS (SELECT id, dup_cluster FROM '{truth_path}')
        SELECT count(*), sum((t1.dup_cluster IS NOT NULL
                              AND t1.dup_cluster = t2.dup_cluster)::INT)
        FROM o JOIN t t1 USING (id) LEFT JOIN t t2 ON o.kept_id = t2.id WHERE o.removed
        """
    ).fetchone()
    removed, correct = prec[0], int(prec[1] or 0)
    return {
        "bins": bins,
        "recall_near_ge_0.8": ge08,
        "removed": removed,
        "precision": correct / removed if removed else 1.0,
    }


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"  # no pair in the bin


def print_score(name: str, s: dict) -> None:
    print(
        f"\n{name}: removed {s['removed']}, precision {s['precision']:.4f}, "
        f"recall(near, J>=0.8) {_fmt(s['recall_near_ge_0.8'])}"
    )
    for b, n, r in s["bins"]:
        print(f"  {b:>8}  pairs {n:5d}  recall {r:.3f}")


def datatrove_minhash() -> SimpleNamespace:
    """datatrove's MinHash steps and the config both benchmarks use (5-grams, 14 x 8, 64-bit)."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import minhash as m
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    cfg = m.MinhashConfig(
        n_grams=5, num_buckets=14, hashes_per_bucket=8, hash_config=HashConfig(precision=64)
    )
    return SimpleNamespace(
        cfg=cfg, m=m, executor=LocalPipelineExecutor, reader=JsonlReader, writer=JsonlWriter
    )

"""Forgetting 1% of a run's documents in place vs re-running the recipe.

    python benchmarks/bench_forget.py --size-mb 30          # corpus from ../shared/bench
    python benchmarks/bench_forget.py --size-mb 300 --shard-mb 25
    python benchmarks/bench_forget.py --corpus /tmp/c30/corpus   # a corpus made earlier

Runs the recipe once (length filter, exact dedup, GPT-2 tokenize, Megatron + Parquet token
sinks; its wall time is what a re-run costs), then on copies of its output forgets 1% of the
kept documents (a) spread over every shard and (b) all in one shard, and audits the result.
Forget cost follows the files it rewrites (data, token and rejected shards plus the ``_work``
checkpoint fragments holding the documents), not the corpus size: (b) touches one shard of
each kind. Prints one JSON line per measurement and the load average next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from corpusforge.pipeline import Pipeline
from corpusforge.pipeline.governance.audit import audit
from corpusforge.pipeline.governance.forget import forget
from corpusforge.pipeline.governance.select import Selectors

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


def corpus(work: Path, size_mb: int) -> Path:
    folder = work / f"corpus-{size_mb}"
    if not (folder / "manifest.json").exists():
        script = SHARED / "bench" / "make_corpus.py"
        args = ["--out", str(folder), "--size-mb", str(size_mb), "--seed", "1"]
        subprocess.run([sys.executable, str(script), *args], check=True)
    return folder / "corpus"


def recipe(inputs: Path, out: Path, shard_mb: float) -> dict:
    sinks = [
        {"kind": "megatron", "path": "tokens", "params": {"tokenizer": "gpt2"}},
        {"kind": "parquet_tokens", "path": "tokens_pq", "params": {"tokenizer": "gpt2"}},
    ]
    return {
        "name": "bench-forget",
        "input": {"paths": [str(inputs)]},
        "output": {
            "path": str(out),
            "shard_size_mb": shard_mb,
            "sinks": sinks,
            "drop_columns": ["input_ids"],
            "report": False,
        },
        "stages": [
            {"length_filter": {"min_chars": 200}},
            {"exact_dedup": {}},
            {"tokenize": {"tokenizer": "gpt2"}},
        ],
        "ray": {"progress": False},
    }


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def pick(out: Path, spread: bool, share: float = 0.01) -> list[str]:
    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT doc_id, shard FROM doc_outputs WHERE output = 'data' ORDER BY doc_id"
        ).fetchall()
    finally:
        con.close()
    n = max(1, int(len(rows) * share))
    rng = random.Random(1)
    if spread:
        return [d for d, _ in rng.sample(rows, n)]
    first = min(s for _, s in rows)
    return [d for d, s in rows if s == first][:n]


def measure(base: Path, work: Path, name: str, ids: list[str]) -> dict:
    out = work / f"out-{name}"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(base, out)
    t0 = time.perf_counter()
    result = forget(str(out), Selectors(ids=ids))
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    checked = audit(str(out))
    return {
        "case": name,
        "documents": result.documents,
        "forget_s": round(seconds, 2),
        "audit_s": round(time.perf_counter() - t0, 2),
        "audit_ok": checked.ok,
        **{k: result.counts.get(k) for k in ("data_shards", "token_shards", "checkpoints")},
        "load": load(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=30)
    ap.add_argument("--shard-mb", type=float, default=4.0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_forget"))
    ap.add_argument("--corpus", type=Path, help="an existing make_corpus.py corpus/ folder")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    inputs = args.corpus or corpus(args.work, args.size_mb)
    base = args.work / "out-base"
    shutil.rmtree(base, ignore_errors=True)
    t0 = time.perf_counter()
    Pipeline(recipe(inputs, base, args.shard_mb)).run()
    run_s = time.perf_counter() - t0
    shards = len(list((base / "data").glob("*.parquet")))
    print(
        json.dumps(
            {
                "case": "full run of the recipe",
                "seconds": round(run_s, 1),
                "data_shards": shards,
                "corpus": str(inputs),
                "load": load(),
            }
        )
    )
    for name, spread in (("1% spread", True), ("1% in one shard", False)):
        row = measure(
            base, args.work, name.replace(" ", "_").replace("%", "pct"), pick(base, spread)
        )
        row["vs_full_run"] = f"{run_s / row['forget_s']:.1f}x faster"
        print(json.dumps(row))


if __name__ == "__main__":
    main()

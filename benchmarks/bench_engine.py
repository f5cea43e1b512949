"""The engine's own overhead: a pass-through pipeline vs plain pyarrow, same data, one script.

    python benchmarks/bench_engine.py /tmp/bench_std/corpus [--workers 2]

Builds nothing: point it at a corpus from ../shared/bench/make_corpus.py (the standard one is
`--size-mb 300 --seed 1`). Both sides read every `*.jsonl.gz` shard and write Parquet (zstd):

- pyarrow: `pyarrow.json.read_json` + `pyarrow.parquet.write_table`, one process, no checks.
- corpusforge: `corpusforge run` with one `passthrough` stage on a local Ray with --workers
  CPUs: record-level validation and quarantine, document ids, per-unit commits, fragment +
  shard writes, lineage in DuckDB with checksums, the conservation check.

Prints MB/s of text for both, the ratio, and the fixed start-up cost (Ray start + a one-record
run), so the per-byte overhead can be told apart from the constant.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.json as pj
import pyarrow.parquet as pq


def text_megabytes(corpus: Path) -> tuple[float, int]:
    size, docs = 0, 0
    for shard in sorted(corpus.glob("*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    text = json.loads(line).get("text")
                except (json.JSONDecodeError, AttributeError):
                    continue
                if isinstance(text, str):
                    size += len(text.encode("utf-8", "surrogatepass"))
                    docs += 1
    return size / 1e6, docs


def run_pyarrow(corpus: Path, out: Path) -> float:
    start = time.perf_counter()
    for shard in sorted(corpus.glob("*.jsonl.gz")):
        table = pj.read_json(shard)
        pq.write_table(table, out / (shard.name.split(".")[0] + ".parquet"), compression="zstd")
    return time.perf_counter() - start


def run_corpusforge(corpus: Path, out: Path, workers: int) -> tuple[float, object]:
    from corpusforge.pipeline import Pipeline

    cfg = {
        "name": "bench-engine",
        "input": {"paths": [str(corpus)], "format": "jsonl"},
        "output": {"path": str(out), "report": False},
        "stages": ["passthrough"],
        "ray": {"num_cpus": workers, "progress": False},
    }
    start = time.perf_counter()
    result = Pipeline(cfg, resume=False).run()
    return time.perf_counter() - start, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("corpus", type=Path, help="folder with *.jsonl.gz shards")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    mb, docs = text_megabytes(args.corpus)
    print(f"corpus: {args.corpus} ({docs:,} readable documents, {mb:.1f} MB of text)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "pa").mkdir()
        t_pa = run_pyarrow(args.corpus, tmp_path / "pa")

        tiny = tmp_path / "tiny"
        tiny.mkdir()
        (tiny / "one.jsonl").write_text('{"text": "one record"}\n')
        t_fixed, _ = run_corpusforge(tiny, tmp_path / "tiny_out", args.workers)
        t_cf, result = run_corpusforge(args.corpus, tmp_path / "cf", args.workers)
        shutil.rmtree(tmp_path / "cf", ignore_errors=True)

    print(f"pyarrow read_json -> parquet, 1 process: {t_pa:7.1f} s  {mb / t_pa:6.1f} MB/s")
    print(
        f"corpusforge passthrough, {args.workers} workers:  {t_cf:7.1f} s  {mb / t_cf:6.1f} MB/s"
        f"  ({result.records:,} records: {result.kept:,} kept, {result.rejected:,} rejected, "
        f"{result.quarantined:,} quarantined)"
    )
    print(f"ratio corpusforge / pyarrow wall time: {t_cf / t_pa:.2f}x")
    print(f"fixed start-up cost (Ray start + one-record run): {t_fixed:.1f} s")
    print(f"corpusforge excluding start-up: {mb / max(t_cf - t_fixed, 1e-9):.1f} MB/s")


if __name__ == "__main__":
    main()

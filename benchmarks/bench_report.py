"""Side by side: the corpusforge report of a finished run vs datatrove's stats pass over it.

    python benchmarks/bench_report.py /tmp/report_std_out

``OUT`` is the output folder of a finished ``corpusforge run`` (e.g. the standard corpus through
``stages: [passthrough]`` or a ``length_filter``). Ours: ``write_report(OUT)``, which answers
from ``lineage.duckdb`` with DuckDB aggregates (funnel, histograms, languages, inputs, ...), plus
the rejected samples read from ``OUT/rejected``; timed cold (first call in the process, which
includes starting the bundled Vega renderer) and warm. The peer: the way to get document
statistics after a datatrove run, ``ParquetReader(OUT/data) -> DocStats`` then ``StatsMerger``
(one task; only the "summary" group, so no URL parsing), which re-reads every kept document.
Prints wall time of each and the ratio.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def run_ours(out_dir: str) -> tuple[float, float, float, str]:
    from corpusforge.pipeline.report import write_report
    from corpusforge.pipeline.report.data import report_data

    t0 = time.perf_counter()
    path = write_report(out_dir, output=str(Path(tempfile.mkdtemp()) / "report.html"))
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_report(out_dir, output=path)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    report_data(out_dir)
    data_only = time.perf_counter() - t0
    return cold, warm, data_only, path


def run_datatrove(out_dir: str) -> float:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.stats import DocStats, StatsMerger

    work = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=[
            ParquetReader(str(Path(out_dir) / "data"), glob_pattern="*.parquet"),
            DocStats(str(work / "stats"), groups_to_compute=["summary"]),
        ],
        tasks=1,
        logging_dir=str(work / "logs"),
    ).run()
    LocalPipelineExecutor(
        pipeline=[StatsMerger(str(work / "stats"), str(work / "merged"))],
        tasks=1,
        logging_dir=str(work / "logs_merge"),
    ).run()
    return time.perf_counter() - t0


def main() -> None:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "/tmp/report_std_out"
    import duckdb

    con = duckdb.connect(str(Path(out_dir) / "lineage.duckdb"), read_only=True)
    docs, rejected = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE fate = 'rejected') FROM documents"
    ).fetchone()
    con.close()
    print(f"run {out_dir}: {docs:,} documents in lineage, {rejected:,} rejected")
    cold, warm, data_only, path = run_ours(out_dir)
    print(
        f"corpusforge report: {cold:.2f} s cold, {warm:.2f} s warm "
        f"(report_data alone {data_only:.2f} s) -> {path}"
    )
    peer = run_datatrove(out_dir)
    print(f"datatrove DocStats + StatsMerger over the kept Parquet: {peer:.2f} s")
    print(f"ratio (datatrove / corpusforge cold): {peer / cold:.1f}x")


if __name__ == "__main__":
    main()

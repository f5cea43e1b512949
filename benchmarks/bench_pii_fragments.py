"""CPU time of the ``pii`` stage per core on a run's own documents: the phase-0 fragments.

Reads ``OUT/_work/phase0/*.parquet`` of a finished run (e.g. ``examples/web_recipe.yaml`` on
a ``make_corpus.py`` corpus), takes the rows of one fate and times
``get_stage('pii')({'default_policy': 'tag'}).process`` on 1024-row slices with
``time.process_time`` (one process, one thread: CPU seconds are what a core spends, whatever
else runs on the box).

- ``kept``: live after phase 0, the mostly English text the stage saw in the pipeline; with
  ``--corpus``, their input text (phase 0 left it redacted, with nothing left to find);
- ``rejected``: what langid and the quality stages rejected, mostly non-English, which the
  rejected output redacts.

    python benchmarks/bench_pii_fragments.py --out /tmp/run --corpus /tmp/bench_std/corpus

``--save FILE`` writes each row's redacted text and counts (Parquet) for a before/after diff.
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

from corpusforge.pipeline.registry import get_stage
from corpusforge.schemas import Col

SLICE_ROWS = 1024


def load_rows(out: str, fate: str, max_mb: float) -> pa.Table:
    """Id and text of the phase-0 rows of ``fate``, in fragment-name order, up to ``max_mb``."""
    tables, size = [], 0
    for path in sorted(glob.glob(os.path.join(out, "_work", "phase0", "*.parquet"))):
        table = pq.read_table(path, columns=[Col.ID, Col.TEXT, Col.FATE])
        fates = table.column(Col.FATE)
        mask = pc.is_null(fates) if fate == "kept" else pc.equal(fates, fate)
        table = table.filter(pc.fill_null(mask, False)).select([Col.ID, Col.TEXT])
        tables.append(table)
        size += pc.sum(pc.binary_length(table.column(Col.TEXT))).as_py() or 0
        if max_mb and size >= max_mb * 1e6:
            break
    return pa.concat_tables(tables).combine_chunks()


def input_texts(table: pa.Table, corpus: str) -> pa.Table:
    """``table``'s documents with their text as the input JSONL holds it (ids are the
    records' own ``id`` field, as in ``benchmarks/e2e.py``)."""
    parts = [
        pj.read_json(p).select([Col.ID, Col.TEXT])
        for p in sorted(glob.glob(os.path.join(corpus, "*.jsonl*")))
    ]
    source = pa.concat_tables(parts)
    source = source.filter(pc.is_in(source.column(Col.ID), table.column(Col.ID)))
    order = pc.index_in(table.column(Col.ID), source.column(Col.ID))
    return source.take(order)


def time_stage(table: pa.Table) -> tuple[float, pa.Table]:
    """CPU seconds of ``process`` over 1024-row slices (setup excluded), and its output."""
    stage = get_stage("pii")({"default_policy": "tag"})
    stage.ensure_setup()
    outs, cpu = [], 0.0
    for start in range(0, table.num_rows, SLICE_ROWS):
        piece = table.slice(start, SLICE_ROWS)
        t0 = time.process_time()
        outs.append(stage.process(piece))
        cpu += time.process_time() - t0
    return cpu, pa.concat_tables(outs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="a finished run's output folder")
    ap.add_argument("--fate", action="append", choices=["kept", "rejected"])
    ap.add_argument("--corpus", default=None, help="the run's JSONL input (kept: input text)")
    ap.add_argument("--max-mb", type=float, default=0, help="stop after this much text")
    ap.add_argument("--save", default=None, help="Parquet prefix for the outputs (diffs)")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    for fate in args.fate or ["kept", "rejected"]:
        table = load_rows(args.out, fate, args.max_mb)
        if fate == "kept" and args.corpus:
            table = input_texts(table, args.corpus)
        mb = (pc.sum(pc.binary_length(table.column(Col.TEXT))).as_py() or 0) / 1e6
        cpu, out = time_stage(table)
        total = pc.sum(out.column("pii_total")).as_py()
        print(
            f"{fate:>8}: {table.num_rows} docs, {mb:.1f} MB, {cpu:.1f} CPU s, "
            f"{mb / cpu:.1f} MB/s per core, {total} PII spans"
        )
        if args.save:
            keep = [Col.ID, Col.TEXT, *[c for c in out.column_names if c.startswith("pii_")]]
            pq.write_table(out.select(keep), f"{args.save}-{fate}.parquet")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

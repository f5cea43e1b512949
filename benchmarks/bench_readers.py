"""Side by side: corpusforge's JSONL reader vs datatrove's JsonlReader on the same shards.

    python benchmarks/bench_readers.py /tmp/bench_std/corpus

Both read every ``*.jsonl.gz`` under the folder in one process, one after the other, and
touch every document's text (count characters); ours also builds the Arrow batches it hands
to the engine, datatrove builds its ``Document`` objects. Prints wall time, docs/s and MB/s of
text for each and the ratio. Build the corpus first with
``python ../shared/bench/make_corpus.py --out /tmp/bench_std --size-mb 300 --seed 1``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pyarrow.compute as pc


def run_ours(files: list[str]) -> tuple[int, int]:
    from corpusforge.stages.readers.jsonl import JsonlReader

    reader = JsonlReader()
    docs = chars = 0
    for f in files:
        for table in reader.read(f):
            docs += table.num_rows
            chars += pc.sum(pc.utf8_length(table.column("text"))).as_py() or 0
    return docs, chars


def run_datatrove(folder: str) -> tuple[int, int]:
    from datatrove.pipeline.readers import JsonlReader

    reader = JsonlReader(folder, glob_pattern="*.jsonl.gz")
    docs = chars = 0
    for doc in reader.run(rank=0, world_size=1):
        docs += 1
        chars += len(doc.text)
    return docs, chars


def main() -> None:
    folder = sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench_std/corpus"
    files = sorted(str(p) for p in Path(folder).glob("*.jsonl.gz"))
    # Import both sides before timing: imports are slow on a cold disk and are not reading.
    import datatrove.pipeline.readers  # noqa: F401

    import corpusforge.stages.readers.jsonl  # noqa: F401

    results = {}
    for name, fn in (
        ("corpusforge", lambda: run_ours(files)),
        ("datatrove", lambda: run_datatrove(folder)),
    ):
        t0 = time.perf_counter()
        docs, chars = fn()
        wall = time.perf_counter() - t0
        results[name] = wall
        print(
            f"{name:12s} {wall:7.2f} s  {docs:8d} docs  {docs / wall:9.0f} docs/s  "
            f"{chars / 1e6 / wall:6.1f} M chars/s"
        )
    print(
        "ratio (datatrove time / corpusforge time): "
        f"{results['datatrove'] / results['corpusforge']:.2f}x"
    )


if __name__ == "__main__":
    main()

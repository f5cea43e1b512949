"""Quality filters: corpusforge stages vs datatrove's filters on the same documents.

One process, same documents, same thresholds (the published defaults). Two measurements:

* each filter alone over all documents (docs/s of ours and datatrove's, ratio);
* the chain GopherRepetition -> GopherQuality -> C4Quality -> FineWebQuality, where each step
  sees only the survivors of the previous one (datatrove streams documents through its
  generators; ours passes Arrow batches of 512 live rows from stage to stage).

It also checks that every document gets the same decision (kept, or the same reason) and, for
C4, the same output text. Usage::

    python benchmarks/bench_quality.py --corpus /tmp/bench_small --docs 5000

The corpus is one built by ../shared/bench/make_corpus.py (any folder of *.jsonl.gz with a
``text`` field works).
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)

from corpusforge.pipeline.api import rejected_mask
from corpusforge.schemas import Col
from corpusforge.stages.quality import words as quality_words
from corpusforge.stages.quality.c4 import C4Quality
from corpusforge.stages.quality.fineweb import FineWebQuality
from corpusforge.stages.quality.gopher import GopherQuality, GopherRepetition

PAIRS = [
    ("gopher_repetition", GopherRepetition, GopherRepetitionFilter),
    ("gopher_quality", GopherQuality, GopherQualityFilter),
    ("c4_quality", C4Quality, C4QualityFilter),
    ("fineweb_quality", FineWebQuality, FineWebQualityFilter),
]
BATCH = 512


def load_docs(corpus: Path, limit: int) -> list[tuple[str, str]]:
    docs: list[tuple[str, str]] = []
    for shard in sorted(corpus.rglob("*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if isinstance(rec.get("text"), str):
                    docs.append((str(rec.get("id", len(docs))), rec["text"]))
                if len(docs) >= limit:
                    return docs
    return docs


def datatrove_run(filters: list, docs: list[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Final outcome per id: ("kept", text) or ("rejected", reason)."""
    out: dict[str, tuple[str, str]] = {}
    for doc_id, text in docs:
        doc = Document(text=text, id=doc_id)
        fate: tuple[str, str] = ("kept", "")
        for f in filters:
            res = f.filter(doc)
            keep, reason = res if isinstance(res, tuple) else (res, None)
            if not keep:
                fate = ("rejected", reason or "")
                break
        out[doc_id] = fate if fate[0] == "rejected" else ("kept", doc.text)
    return out


def ours_run(stages: list, docs: list[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for start in range(0, len(docs), BATCH):
        part = docs[start : start + BATCH]
        live = pa.table({Col.ID: [d for d, _ in part], Col.TEXT: [t for _, t in part]})
        for st in stages:
            live = st(live)
            if Col.REASON not in live.column_names:
                continue
            gone = rejected_mask(live)
            dropped = live.filter(gone)
            for doc_id, reason in zip(
                dropped[Col.ID].to_pylist(), dropped[Col.REASON].to_pylist(), strict=True
            ):
                out[doc_id] = ("rejected", reason)
            live = live.filter(pc.invert(gone)).drop_columns([Col.REASON, Col.DETAIL])
        for doc_id, text in zip(live[Col.ID].to_pylist(), live[Col.TEXT].to_pylist(), strict=True):
            out[doc_id] = ("kept", text)
    return out


def timed(fn, *args):
    t0 = time.perf_counter()
    res = fn(*args)
    return res, time.perf_counter() - t0


def compare(a: dict, b: dict) -> int:
    return sum(1 for k in a if a[k] != b[k])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/bench_small"))
    ap.add_argument("--docs", type=int, default=5000)
    args = ap.parse_args()
    docs = load_docs(args.corpus, args.docs)
    n = len(docs)
    mb = sum(len(t.encode()) for _, t in docs) / 1e6
    print(f"{n} documents, {mb:.1f} MB of text from {args.corpus}")

    # warm both sides (spaCy tokenizer load, numpy imports) outside the timings
    warm = docs[:20]
    datatrove_run([c() for _, _, c in PAIRS], warm)
    ours_run([s() for _, s, _ in PAIRS], warm)

    print(f"\n{'filter':<20}{'datatrove docs/s':>18}{'ours docs/s':>14}{'ratio':>8}{'diffs':>7}")
    for name, ours_cls, dt_cls in PAIRS:
        quality_words.clear_cache()
        dt, t_dt = timed(datatrove_run, [dt_cls()], docs)
        quality_words.clear_cache()
        us, t_us = timed(ours_run, [ours_cls()], docs)
        print(
            f"{name:<20}{n / t_dt:>18.1f}{n / t_us:>14.1f}{t_dt / t_us:>7.2f}x{compare(dt, us):>7}"
        )

    quality_words.clear_cache()
    dt, t_dt = timed(datatrove_run, [c() for _, _, c in PAIRS], docs)
    quality_words.clear_cache()
    us, t_us = timed(ours_run, [s() for _, s, _ in PAIRS], docs)
    kept = sum(1 for v in us.values() if v[0] == "kept")
    print(
        f"{'chain (all four)':<20}{n / t_dt:>18.1f}{n / t_us:>14.1f}{t_dt / t_us:>7.2f}x"
        f"{compare(dt, us):>7}"
    )
    print(f"\nchain: {kept} of {n} kept; datatrove {t_dt:.1f} s, ours {t_us:.1f} s")


if __name__ == "__main__":
    main()

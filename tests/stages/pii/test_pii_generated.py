"""Per-type recall and precision of the pii stage (pattern mode) on our generated set."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest

from corpusforge.stages.pii.analyzer import model_installed
from corpusforge.stages.pii.entities import DEFAULT_NER_MODELS
from corpusforge.stages.pii.stage import PiiStage
from tests.stages.pii.pii_textgen import generate

# Measured on generate(1500, seed=16): every type >= 0.99 (PHONE recall 0.99); the floors
# leave room for Faker's formats to drift between versions.
FLOORS = {
    "EMAIL": (0.99, 0.99),
    "PHONE": (0.97, 0.97),
    "IP": (0.99, 0.99),
    "CREDIT_CARD": (0.97, 0.98),
    "IBAN": (0.98, 0.98),
    "US_SSN": (0.98, 0.98),
}


def _covers(p: tuple[int, int], g: tuple[int, int]) -> bool:
    return min(p[1], g[1]) - max(p[0], g[0]) >= 0.5 * (g[1] - g[0])


@pytest.fixture(scope="module")
def stage() -> PiiStage:
    st = PiiStage()
    st.ensure_setup()
    return st


def test_generated_set_recall_and_precision(stage: PiiStage) -> None:
    recs = generate(1500, seed=16)
    found = stage.detect([r.text for r in recs], [None] * len(recs))
    n_gold, hit_gold, n_pred, hit_pred = Counter(), Counter(), Counter(), Counter()
    for rec, spans in zip(recs, found, strict=True):
        pred = [(s.key, s.start, s.end) for s in spans]
        for k, s, e in rec.spans:
            n_gold[k] += 1
            hit_gold[k] += any(pk == k and _covers((a, b), (s, e)) for pk, a, b in pred)
        for k, s, e in pred:
            n_pred[k] += 1
            hit_pred[k] += any(gk == k and _covers((s, e), (a, b)) for gk, a, b in rec.spans)
    for key, (min_rec, min_prec) in FLOORS.items():
        assert n_gold[key] > 200, key
        recall, precision = hit_gold[key] / n_gold[key], hit_pred[key] / max(n_pred[key], 1)
        assert recall >= min_rec, (key, recall)
        assert precision >= min_prec, (key, precision)


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("Paid with 6759 6498 2648 the day before.", "CREDIT_CARD", "6759 6498 2648"),
        ("Maestro 501800806363 declined.", "CREDIT_CARD", "501800806363"),
        ("IBAN: gb82west12345698765432 thanks", "IBAN", "gb82west12345698765432"),
        ("IBAN: ES90 9214 6669 1721 1513 5822 Meine Bank", "IBAN", "ES90 9214 6669 1721 1513 5822"),
        ("Appelez le 02.27.96.63.08 demain.", "PHONE", "02.27.96.63.08"),
    ],
)
def test_found(stage: PiiStage, text: str, key: str, value: str) -> None:
    spans = stage.detect([text], [None])[0]
    assert [(s.key, text[s.start : s.end]) for s in spans] == [(key, value)]


@pytest.mark.parametrize(
    "text",
    [
        "Driver's license: 123-456-789, valid until 2029.",
        "DL number D123-4567-8901 issued in Ohio.",
        "Ship to 1234 56 Oak Street, Springfield.",
        "Mrs. Karen Thorkildsen Suite 680 36 4022 Oakridge Lane",
        "Card 4111 1111 1111 1112 was declined.",  # not Luhn-valid: not a card, not a phone
        "Order 123-4567-890 shipped on 2024-03-05.",
        "Paid 6759 6498 2644 (a typo).",
    ],
)
def test_not_pii(stage: PiiStage, text: str) -> None:
    assert stage.detect([text], [None])[0] == []


@pytest.mark.skipif(not model_installed(DEFAULT_NER_MODELS["en"]), reason="no `ner` extra")
def test_ner_entities_work_with_the_ner_extra_alone() -> None:
    """Asking for NER types is enough once the `ner` extra is installed: no ner_models."""
    st = PiiStage(entities=["EMAIL", "PERSON", "ORGANIZATION", "LOCATION"])
    text = "Angela Merkel visited Microsoft in Seattle and wrote to press@example.org."
    spans = st.detect([text], ["en"])[0]
    got = {(s.key, text[s.start : s.end]) for s in spans}
    assert ("PERSON", "Angela Merkel") in got
    assert ("ORGANIZATION", "Microsoft") in got
    assert ("LOCATION", "Seattle") in got
    assert ("EMAIL", "press@example.org") in got


def test_batch_prefilter_keeps_every_text_with_pii(stage: PiiStage) -> None:
    """The Arrow prefilter only skips texts the per-text analysis finds nothing in."""
    texts = [r.text for r in generate(600, seed=3)]
    texts += ["Ruf an: ٠١٧٦ ١٢٣٤ ٥٦٧٨", "mail: jürgen@exämple.de", "ok", "", "١٢٣.٤٥.٦٧.٨٩"]
    out = stage(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}))
    per_text = [len(s) for s in stage.detect(texts, [None] * len(texts))]
    assert out["pii_total"].to_pylist() == per_text
    assert sum(per_text) > 500

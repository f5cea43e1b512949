"""fastText classifier stage with a small quality model trained in the test."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest
from faker import Faker

from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.stages.classify.fasttext_classifier import FastTextClassifier
from tests.fasttext_train import write_supervised_model


def junk(rng: random.Random) -> str:
    parts = ["".join(rng.choices("0123456789abcdef", k=rng.randint(4, 12))) for _ in range(12)]
    return " ".join(parts) + " ### $$$ >>> |||"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> str:
    fake = Faker("en_US")
    fake.seed_instance(3)
    rng = random.Random(3)
    rows = [f"__label__hq {fake.paragraph(nb_sentences=4)}" for _ in range(300)]
    rows += [f"__label__lq {junk(rng)}" for _ in range(300)]
    rng.shuffle(rows)
    d = tmp_path_factory.mktemp("ft")
    return write_supervised_model(d / "quality.bin", rows)


def docs() -> pa.Table:
    fake = Faker("en_US")
    fake.seed_instance(99)
    rng = random.Random(99)
    texts = [fake.paragraph(nb_sentences=5) + "\n" + fake.paragraph() for _ in range(5)]
    texts += [junk(rng) + "\n" + junk(rng) for _ in range(5)]
    return pa.table({"id": [str(i) for i in range(10)], "text": texts})


def test_keep_labels(model_path: str) -> None:
    out = FastTextClassifier(model_path=model_path, keep_labels={"hq": 0.5})(docs())
    assert out["_reason"].to_pylist() == [None] * 5 + ["fasttext_keep_labels"] * 5
    assert out["fasttext_label"].to_pylist() == ["hq"] * 5 + ["lq"] * 5
    hq = out["fasttext_hq"].to_pylist()
    assert all(s > 0.5 for s in hq[:5]) and all(s < 0.5 for s in hq[5:])
    assert out["_detail"].to_pylist()[5].startswith("label=hq score=0.")


def test_remove_labels_and_record_only(model_path: str) -> None:
    out = FastTextClassifier(model_path=model_path, remove_labels={"lq": 0.5})(docs())
    assert out["_reason"].to_pylist() == [None] * 5 + ["fasttext_remove_labels"] * 5
    out = FastTextClassifier(model_path=model_path, record_labels=["hq", "lq"])(docs())
    assert "_reason" not in out.column_names  # scores only, no decision
    for a, b in zip(out["fasttext_hq"].to_pylist(), out["fasttext_lq"].to_pylist(), strict=True):
        assert abs(a + b - 1.0) < 1e-3


def test_bad_config(model_path: str) -> None:
    with pytest.raises(ValueError):
        FastTextClassifier(model_path=model_path, keep_labels={"hq": 0.5}, remove_labels={"lq": 1})
    with pytest.raises(ConfigError):
        FastTextClassifier(model_path=model_path, keep_labels={"nope": 0.5})(docs())

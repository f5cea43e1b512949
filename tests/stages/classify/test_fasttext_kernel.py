"""The compiled fastText predictor gives the C++ library's labels and probabilities exactly.

Compared on the shipped lid.176.ftz (quantized, pruned, hierarchical softmax) and on random
models that reach every other part of the format the kernel reads (dense and quantized input
matrices, norms or none, pruned and unpruned n-gram buckets, word n-grams, softmax), over
generated texts: many scripts, every separator fastText knows, label and EOS tokens, empty,
blank and very long documents.
"""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from corpusforge.stages.classify.fasttext_kernel import _mod32, fastmod_magic
from corpusforge.stages.classify.fasttext_model import (
    FastTextModel,
    default_model_path,
    live_mask,
    probe_texts,
)
from tests.fasttext_train import LOSS_HS, LOSS_SOFTMAX, write_random_model


def generated_texts(seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = probe_texts(seed=seed, n=300)
    odd = "\u210c\U0001d522\U0001d529 \U0001f642 \x00x"  # math letters, emoji, NUL
    texts += ["", "   ", "\n\t", "a" * 200_000, " ".join(["word"] * 50_000), odd]
    # whole paragraphs made of the probe pieces, newlines inside
    texts += ["\n".join(rng.sample(texts[:300], 5)) for _ in range(40)]
    return texts


def library_view(model: FastTextModel, texts: list[str], k: int) -> list[tuple]:
    """What the C++ library predicts for each text scored as one line (blank texts: none)."""
    live = live_mask(pa.array(texts))
    lines = [t.replace("\n", " ") for t in texts]
    labels, probs = model.predict_library(lines, k, "replace")
    return [(lab, pr) if ok else ((), ()) for lab, pr, ok in zip(labels, probs, live, strict=True)]


def kernel_view(model: FastTextModel, texts: list[str], k: int) -> list[tuple]:
    idx, probs, got = model.predict_column(pa.array(texts), k)
    return [
        (
            tuple(model.labels[j] for j in idx[i, : got[i]]),
            tuple(float(p) for p in probs[i, : got[i]]),
        )
        for i in range(len(texts))
    ]


def assert_same(model: FastTextModel, texts: list[str], k: int) -> None:
    assert model.compiled is not None, "the model fell back to the library"
    want = library_view(model, texts, k)
    got = kernel_view(model, texts, k)
    diffs = [i for i, (a, b) in enumerate(zip(want, got, strict=True)) if a != b]
    assert not diffs, f"{len(diffs)} texts differ, first: {want[diffs[0]]} vs {got[diffs[0]]}"


@pytest.mark.parametrize("k", [1, 5, 176])
def test_lid176_equals_the_library(k: int) -> None:
    model = FastTextModel(default_model_path())
    texts = generated_texts(seed=k)
    assert_same(model, texts, k)
    # a second pass reads every token from the memo: still the same
    assert_same(model, texts, k)


@pytest.mark.parametrize(
    "params",
    [
        {"loss": LOSS_SOFTMAX},
        {"loss": LOSS_HS},
        {"loss": LOSS_SOFTMAX, "word_ngrams": 3},
        {"loss": LOSS_HS, "quantized": True, "pruned": 400, "word_ngrams": 2},
        {"loss": LOSS_SOFTMAX, "quantized": True, "qnorm": False},
        {"loss": LOSS_HS, "minn": 0, "maxn": 0, "bucket": 0},
        {"loss": LOSS_HS, "minn": 1, "maxn": 6, "quantized": True, "pruned": 0},
    ],
    ids=["softmax", "hs", "word-ngrams", "quantized-pruned", "quantized-no-norm", "no-subwords",
         "prune-all"],
)  # fmt: skip
def test_random_models_equal_the_library(tmp_path, params: dict) -> None:
    path = write_random_model(tmp_path / "m.bin", seed=len(str(params)), **params)
    model = FastTextModel(path)
    assert_same(model, generated_texts(seed=3), 7)
    assert_same(model, generated_texts(seed=4), 2)


def test_predict_lines_keeps_fasttext_semantics() -> None:
    """``predict`` on lines: a line ends at its first newline, as in fastText itself."""
    model = FastTextModel(default_model_path())
    lines = ["Das ist ein Haus\nthis is a house", "un texte en français", ""]
    labels, probs = model.predict(lines, k=2)
    want_labels, want_probs = model.predict_library(
        [lines[0].split("\n")[0], *lines[1:]], 2, "strict"
    )
    assert labels == want_labels and probs == want_probs


def test_fastmod_is_exact() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.integers(0, 2**32, 20_000), [0, 1, 2**31, 2**32 - 1]])
    for d in (1, 2, 3, 7, 2_000_000, 2**31 - 1, 65_537):
        magic = fastmod_magic(d)
        got = [_mod32(np.uint64(v), d, magic) for v in values.tolist()]
        assert got == [v % d for v in values.tolist()]

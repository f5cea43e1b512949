"""Writes real fastText supervised model files for tests, without a fastText trainer.

corpusforge's fastText provider (``fasttext-predict``) only predicts, so tests build their models
here: a naive-Bayes classifier laid out as a fastText softmax model. Each word's input vector
holds its centred log-likelihood per label, the output matrix is the identity, so fastText's
prediction (mean of the word vectors, then softmax) ranks labels like naive Bayes. The file is
fastText's binary format (version 12, no subwords, no word n-grams), loaded by the real library.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from pathlib import Path

import numpy as np

MAGIC, VERSION = 793712314, 12
EOS = "</s>"
LOSS_HS, LOSS_SOFTMAX, MODEL_SUPERVISED = 1, 3, 3


def _args(dim: int) -> bytes:
    # dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate, t
    ints = (dim, 5, 5, 1, 5, 1, LOSS_SOFTMAX, MODEL_SUPERVISED, 0, 0, 0, 100)
    return struct.pack("<12id", *ints, 1e-4)


def _dictionary(words: list[str], counts: Counter, labels: list[str], label_n: Counter) -> bytes:
    entries = [(w, counts[w], 0) for w in words] + [(lab, label_n[lab], 1) for lab in labels]
    out = bytearray(
        struct.pack("<iiiqq", len(entries), len(words), len(labels), sum(counts.values()), -1)
    )
    for word, count, kind in entries:
        out += word.encode("utf-8") + b"\0" + struct.pack("<qb", count, kind)
    return bytes(out)


def _matrix(m: np.ndarray) -> bytes:
    return struct.pack("<?qq", False, *m.shape) + m.astype("<f4").tobytes()


def write_supervised_model(path: str | Path, rows: list[str], scale: float = 4.0) -> str:
    """``rows`` in fastText's training format (``__label__X words ...``); returns the path."""
    docs = []
    for row in rows:
        tokens = row.split()
        labs = [t for t in tokens if t.startswith("__label__")]
        docs.append((labs[0], [t for t in tokens if not t.startswith("__label__")]))
    labels = sorted({lab for lab, _ in docs})
    label_n = Counter(lab for lab, _ in docs)
    per_label = {lab: Counter() for lab in labels}
    for lab, toks in docs:
        per_label[lab].update(toks)
    counts = sum(per_label.values(), Counter())
    words = [EOS, *sorted(counts)]
    vectors = np.zeros((len(words), len(labels)), dtype=np.float64)
    totals = {lab: sum(c.values()) + len(counts) for lab, c in per_label.items()}
    for i, w in enumerate(words[1:], start=1):
        logp = [math.log((per_label[lab][w] + 1) / totals[lab]) for lab in labels]
        vectors[i] = scale * (np.array(logp) - np.mean(logp))
    data = struct.pack("<ii", MAGIC, VERSION) + _args(len(labels))
    data += _dictionary(words, counts, labels, label_n)
    data += _matrix(vectors) + _matrix(np.eye(len(labels)))
    Path(path).write_bytes(data)
    return str(path)


def write_random_model(
    path: str | Path,
    *,
    loss: int,
    dim: int = 10,
    minn: int = 2,
    maxn: int = 4,
    bucket: int = 5000,
    word_ngrams: int = 1,
    quantized: bool = False,
    pruned: int = -1,
    qnorm: bool = True,
    seed: int = 0,
) -> str:
    """A fastText supervised model with random weights: every part of the format that
    prediction reads (subword buckets, word n-grams, a quantized input matrix with or without
    norms, a pruned n-gram index, hierarchical softmax or softmax), for checking a predictor
    against the library. ``pruned`` > 0 keeps that many n-gram buckets (quantized only, as in
    fastText); -1 keeps them all."""
    rng = np.random.default_rng(seed)
    words = [EOS, "the", "and", "über", "слово", "日本", "a", "x1", "__label__word", "é"]
    labels = [f"__label__l{i}" for i in range(7)]
    counts = Counter({w: 1000 - 10 * i for i, w in enumerate(words)})
    label_n = Counter({lab: 500 - 60 * i for i, lab in enumerate(labels)})
    prune_size = pruned if quantized else -1
    n_rows = len(words) + (prune_size if prune_size >= 0 else bucket)
    ints = (dim, 5, 5, 1, 5, word_ngrams, loss, MODEL_SUPERVISED, bucket, minn, maxn, 100)
    data = struct.pack("<ii", MAGIC, VERSION) + struct.pack("<12id", *ints, 1e-4)
    entries = [(w, counts[w], 0) for w in words] + [(lab, label_n[lab], 1) for lab in labels]
    data += struct.pack("<iiiqq", len(entries), len(words), len(labels), 10**6, prune_size)
    for word, count, kind in entries:
        data += word.encode("utf-8") + b"\0" + struct.pack("<qb", count, kind)
    if prune_size > 0:
        kept = rng.choice(bucket, size=prune_size, replace=False)
        for row, bucket_id in enumerate(kept.tolist()):
            data += struct.pack("<ii", bucket_id, row)
    data += struct.pack("<?", quantized)
    if quantized:
        dsub = 3
        nsubq = -(-dim // dsub)
        lastdsub = dim - dsub * (nsubq - 1)
        data += struct.pack("<?qqi", qnorm, n_rows, dim, n_rows * nsubq)
        data += rng.integers(0, 256, n_rows * nsubq, dtype=np.uint8).tobytes()
        data += struct.pack("<iiii", dim, nsubq, dsub, lastdsub)
        data += rng.normal(size=dim * 256).astype("<f4").tobytes()
        if qnorm:
            data += rng.integers(0, 256, n_rows, dtype=np.uint8).tobytes()
            data += struct.pack("<iiii", 1, 1, 1, 1)
            data += rng.uniform(0.5, 2.0, 256).astype("<f4").tobytes()
    else:
        data += (
            struct.pack("<qq", n_rows, dim) + rng.normal(size=(n_rows, dim)).astype("<f4").tobytes()
        )
    data += _matrix(rng.normal(size=(len(labels), dim)))  # qout false, then the matrix
    Path(path).write_bytes(data)
    return str(path)

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
LOSS_SOFTMAX, MODEL_SUPERVISED = 3, 3


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

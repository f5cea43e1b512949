"""Megatron's indexed dataset (``MMIDIDX``): a ``.bin`` of tokens and an ``.idx`` index.

Layout of ``.idx`` (little-endian), as Megatron-LM / Megatron-Core / NeMo / GPT-NeoX read it:

=========================  =====================================================
``MMIDIDX\\x00\\x00``       9-byte magic
version                    uint64, 1
dtype code                 uint8 (1 uint8, 2 int8, 3 int16, 4 int32, 5 int64,
                           6 float64, 7 float32, 8 uint16)
sequence count             uint64
document count             uint64 (sequences + 1: document boundaries)
sequence lengths           int32 x sequences (tokens)
sequence pointers          int64 x sequences (byte offsets into ``.bin``)
document indices           int64 x documents (0, then the end of every document)
=========================  =====================================================

We write one sequence per document, so document indices are ``0..n``. Shards may live on any
fsspec filesystem: local files are memory-mapped, remote ones read into memory.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpusforge.pipeline.io import fsutil

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPE_CODES = {
    np.dtype(np.uint8): 1,
    np.dtype(np.int8): 2,
    np.dtype(np.int16): 3,
    np.dtype(np.int32): 4,
    np.dtype(np.int64): 5,
    np.dtype(np.float64): 6,
    np.dtype(np.float32): 7,
    np.dtype(np.uint16): 8,
}
CODE_DTYPES = {code: dt for dt, code in DTYPE_CODES.items()}


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 below 65500 ids (Megatron's own threshold), int32 above."""
    return np.dtype(np.uint16) if vocab_size < 65500 else np.dtype(np.int32)


def index_bytes(dtype: np.dtype, lengths: np.ndarray) -> bytes:
    """The ``.idx`` content for sequences of ``lengths`` tokens (one sequence per document)."""
    lengths = np.asarray(lengths, dtype=np.int32)
    n = len(lengths)
    pointers = np.zeros(n, dtype=np.int64)
    if n:
        np.cumsum(lengths[:-1].astype(np.int64) * dtype.itemsize, out=pointers[1:])
    header = MAGIC + struct.pack("<QBQQ", VERSION, DTYPE_CODES[np.dtype(dtype)], n, n + 1)
    return b"".join(
        [header, lengths.tobytes(), pointers.tobytes(), np.arange(n + 1, dtype=np.int64).tobytes()]
    )


def write_index(path: str | Path, dtype: np.dtype, lengths: np.ndarray) -> None:
    """Write the ``.idx`` at ``path`` (a local path or any fsspec URL), atomically."""
    fsutil.atomic_write_bytes(str(path), index_bytes(dtype, lengths))


def _load(url: str) -> np.ndarray:
    """The bytes of a shard file: memory-mapped when local, read whole when remote."""
    if fsutil.is_remote(url):
        return np.frombuffer(fsutil.read_bytes(url), dtype=np.uint8)
    if Path(url).stat().st_size == 0:
        return np.zeros(0, dtype=np.uint8)
    return np.memmap(url, mode="r", dtype=np.uint8)


@dataclass
class IndexedShard:
    """Read-only view of a ``.bin``/``.idx`` pair (memory-mapped)."""

    dtype: np.dtype
    lengths: np.ndarray  # int32 per sequence
    pointers: np.ndarray  # int64 byte offsets
    document_indices: np.ndarray
    tokens: np.ndarray  # the whole .bin as a memmap of dtype

    @classmethod
    def open(cls, prefix: str | Path) -> IndexedShard:
        """The shard at ``prefix`` (``.bin``/``.idx`` optional): a path or an fsspec URL."""
        prefix = str(prefix).removesuffix(".bin").removesuffix(".idx")
        idx = _load(prefix + ".idx")
        if bytes(idx[:9]) != MAGIC:
            raise ValueError(f"{fsutil.display_name(prefix)}.idx is not an MMIDIDX index")
        (version,) = struct.unpack("<Q", bytes(idx[9:17]))
        if version != VERSION:
            raise ValueError(f"{fsutil.display_name(prefix)}.idx: unsupported version {version}")
        dtype = CODE_DTYPES[int(idx[17])]
        n_seq, n_doc = struct.unpack("<QQ", bytes(idx[18:34]))
        off = 34
        lengths = np.frombuffer(idx, dtype=np.int32, count=n_seq, offset=off)
        off += 4 * n_seq
        pointers = np.frombuffer(idx, dtype=np.int64, count=n_seq, offset=off)
        off += 8 * n_seq
        docs = np.frombuffer(idx, dtype=np.int64, count=n_doc, offset=off)
        raw = _load(prefix + ".bin")
        tokens = raw.view(dtype) if raw.size else np.zeros(0, dtype=dtype)
        return cls(dtype, lengths, pointers, docs, tokens)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.pointers[i]) // self.dtype.itemsize
        return np.asarray(self.tokens[start : start + int(self.lengths[i])])

    @property
    def n_tokens(self) -> int:
        return int(self.lengths.sum(dtype=np.int64))

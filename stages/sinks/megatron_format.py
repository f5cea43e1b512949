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

We write one sequence per document, so document indices are ``0..n``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


def write_index(path: str | Path, dtype: np.dtype, lengths: np.ndarray) -> None:
    """Write the ``.idx`` for sequences of ``lengths`` tokens (one sequence per document)."""
    lengths = np.asarray(lengths, dtype=np.int32)
    n = len(lengths)
    pointers = np.zeros(n, dtype=np.int64)
    if n:
        np.cumsum(lengths[:-1].astype(np.int64) * dtype.itemsize, out=pointers[1:])
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<Q", VERSION))
        f.write(struct.pack("<B", DTYPE_CODES[np.dtype(dtype)]))
        f.write(struct.pack("<Q", n))
        f.write(struct.pack("<Q", n + 1))
        f.write(lengths.tobytes())
        f.write(pointers.tobytes())
        f.write(np.arange(n + 1, dtype=np.int64).tobytes())


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
        prefix = str(prefix).removesuffix(".bin").removesuffix(".idx")
        idx = np.memmap(prefix + ".idx", mode="r", dtype=np.uint8)
        if bytes(idx[:9]) != MAGIC:
            raise ValueError(f"{prefix}.idx is not an MMIDIDX index")
        (version,) = struct.unpack("<Q", bytes(idx[9:17]))
        if version != VERSION:
            raise ValueError(f"{prefix}.idx: unsupported version {version}")
        dtype = CODE_DTYPES[idx[17]]
        n_seq, n_doc = struct.unpack("<QQ", bytes(idx[18:34]))
        off = 34
        lengths = np.frombuffer(idx, dtype=np.int32, count=n_seq, offset=off)
        off += 4 * n_seq
        pointers = np.frombuffer(idx, dtype=np.int64, count=n_seq, offset=off)
        off += 8 * n_seq
        docs = np.frombuffer(idx, dtype=np.int64, count=n_doc, offset=off)
        size = Path(prefix + ".bin").stat().st_size
        tokens = (
            np.memmap(prefix + ".bin", mode="r", dtype=dtype) if size else np.zeros(0, dtype=dtype)
        )
        return cls(dtype, lengths, pointers, docs, tokens)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.pointers[i]) // self.dtype.itemsize
        return np.asarray(self.tokens[start : start + int(self.lengths[i])])

    @property
    def n_tokens(self) -> int:
        return int(self.lengths.sum(dtype=np.int64))

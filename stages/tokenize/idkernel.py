"""Compiled per-batch loops of the tokenize stage: which documents gigatoken must not encode,
and BOS/EOS framing of the flat id buffer.

Both were NumPy/RE2 passes that cost about as much as a third of gigatoken's own encode at
its steady speed (README_stages.md); each is now one pass over the buffers.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from corpusforge.stages.dedup.kernels import decode_at

_HIGH_BITS = np.uint64(0x8080808080808080)


@nb.njit(cache=True)
def flag_rows(data: np.ndarray, offsets: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Rows of a UTF-8 buffer holding a code point ``cp`` with ``table[cp]`` (ASCII is never
    flagged: the table only covers code points whose class differs between engines)."""
    n = len(offsets) - 1
    out = np.zeros(n, np.bool_)
    words = data[: len(data) // 8 * 8].view(np.uint64)  # ASCII runs are skipped 8 bytes at a time
    for d in range(n):
        i = offsets[d]
        end = offsets[d + 1]
        while i < end:
            if i & 7 == 0 and i + 8 <= end and words[i >> 3] & _HIGH_BITS == 0:
                i += 8
                continue
            if data[i] < 0x80:
                i += 1
                continue
            cp, i = decode_at(data, i, end)  # a truncated sequence reads as U+FFFD: not flagged
            if cp < len(table) and table[cp]:
                out[d] = True
                break
    return out


@nb.njit(cache=True)
def _frame(ids, offsets, bos, eos, out, new_off):
    j = 0
    for d in range(len(offsets) - 1):
        if bos >= 0:
            out[j] = bos
            j += 1
        a = offsets[d]
        b = offsets[d + 1]
        out[j : j + b - a] = ids[a:b]
        j += b - a
        if eos >= 0:
            out[j] = eos
            j += 1
        new_off[d + 1] = j


def frame_ids(
    ids: np.ndarray, offsets: np.ndarray, bos: int | None, eos: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Insert ``bos``/``eos`` around every document of a flat (ids, offsets) batch."""
    extra = (bos is not None) + (eos is not None)
    if not extra:
        return ids, offsets
    n = len(offsets) - 1
    out = np.empty(len(ids) + extra * n, dtype=np.int32)
    new_off = np.zeros(n + 1, dtype=np.int64)
    _frame(
        ids.astype(np.int32, copy=False),
        offsets.astype(np.int64, copy=False),
        -1 if bos is None else bos,
        -1 if eos is None else eos,
        out,
        new_off,
    )
    return out, new_off

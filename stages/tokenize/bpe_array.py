"""Byte-level BPE merge loop as array code: NumPy on CPU, CuPy on GPU, one code path.

The unit of work is a set of *unique words* (pre-token pieces as bytes). All their symbols
live in one flat array; each iteration, for every word at once:

1. look up every adjacent pair in a sorted table of merge keys (``left * V + right``) with a
   binary search (``searchsorted``) to get its merge priority and merged id;
2. take, per word, the pair of lowest (priority, position) with a segmented minimum;
3. apply that one merge per word (write the merged id, drop the right symbol) and retire the
   words that have nothing left to merge.

One merge per word per iteration is exactly HF's sequential rule (lowest priority first,
leftmost on ties), so ids are identical; the parallelism is across words, which is where a
corpus has it (hundreds of thousands of unique words per batch). The loop runs as many
iterations as the longest word has merges, so words longer than ``max_array_len`` bytes (rare:
base64 blobs, long runs) go to an exact heap-based merge on the host instead.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from corpusforge.stages.tokenize.byte_alphabet import bytes_to_unicode

NO_MERGE = np.int64(2**31 - 1)  # priority of "no merge here"
_POS_BITS = 32


def segment_min(xp: ModuleType, values: Any, starts: Any, seg_of: Any, n_seg: int) -> Any:
    """Minimum of ``values`` over contiguous segments beginning at ``starts``.

    The one primitive whose spelling differs by backend: NumPy's ``reduceat`` (fast on CPU),
    a scatter-min on CuPy (``reduceat`` is not available there).
    """
    if xp is np:
        return np.minimum.reduceat(values, starts)
    import cupyx

    out = xp.full(n_seg, np.iinfo(np.int64).max, dtype=np.int64)
    cupyx.scatter_min(out, seg_of, values)
    return out


@dataclass
class MergeTable:
    """Merges of a byte-level BPE as sorted arrays (host copies; ``to(xp)`` moves them)."""

    keys: np.ndarray  # int64, sorted: left_id * vocab_size + right_id
    priority: np.ndarray  # int64: the merge's position in the merges list
    merged: np.ndarray  # int32: the id of left+right
    byte_ids: np.ndarray  # int32[256]: the id of each single byte
    vocab_size: int

    @classmethod
    def from_model(cls, vocab: dict[str, int], merges: list[Any]) -> MergeTable:
        vocab_size = max(vocab.values()) + 1
        left, right, merged = [], [], []
        for m in merges:
            a, b = m.split(" ", 1) if isinstance(m, str) else m
            left.append(vocab[a])
            right.append(vocab[b])
            merged.append(vocab[a + b])
        keys = np.asarray(left, dtype=np.int64) * vocab_size + np.asarray(right, dtype=np.int64)
        prio = np.arange(len(keys), dtype=np.int64)
        # A pair listed twice keeps its last entry (HF builds a map from the list in order).
        rev_keys, rev_first = np.unique(keys[::-1], return_index=True)
        last = len(keys) - 1 - rev_first
        byte_chars = bytes_to_unicode()
        byte_ids = np.asarray([vocab[byte_chars[b]] for b in range(256)], dtype=np.int32)
        return cls(
            keys=rev_keys,
            priority=prio[last],
            merged=np.asarray(merged, dtype=np.int32)[last],
            byte_ids=byte_ids,
            vocab_size=vocab_size,
        )

    def to(self, xp: ModuleType) -> MergeTable:
        if xp is np:
            return self
        return MergeTable(
            keys=xp.asarray(self.keys),
            priority=xp.asarray(self.priority),
            merged=xp.asarray(self.merged),
            byte_ids=xp.asarray(self.byte_ids),
            vocab_size=self.vocab_size,
        )


def merge_words(xp: ModuleType, table: MergeTable, sym: Any, lengths: Any) -> tuple[Any, Any]:
    """Run BPE on words given as initial symbols ``sym`` (flat) with ``lengths`` (>= 1 each).

    ``table`` must already live on ``xp``. Returns ``(ids, counts)``: the merged ids of every
    word, flat and in word order, and the number of ids per word.
    """
    n_words = int(lengths.shape[0])
    word_ids = xp.arange(n_words, dtype=np.int64)
    lengths = lengths.astype(np.int64)
    done_sym, done_word = [], []
    n_keys = int(table.keys.shape[0])
    while sym.shape[0]:
        n, nw = int(sym.shape[0]), int(lengths.shape[0])
        ends = xp.cumsum(lengths)
        starts = ends - lengths
        marks = xp.zeros(n, dtype=np.int64)
        marks[starts[1:]] = 1
        seg_of = xp.cumsum(marks)  # word (active index) of every symbol
        last = xp.zeros(n, dtype=bool)
        last[ends - 1] = True
        right = xp.empty_like(sym)
        right[:-1] = sym[1:]
        right[-1] = 0
        key = sym.astype(np.int64) * table.vocab_size + right.astype(np.int64)
        slot = xp.minimum(xp.searchsorted(table.keys, key), n_keys - 1)
        found = (table.keys[slot] == key) & ~last
        prio = xp.where(found, table.priority[slot], NO_MERGE)
        best = segment_min(
            xp, (prio << _POS_BITS) | xp.arange(n, dtype=np.int64), starts, seg_of, nw
        )
        merging = (best >> _POS_BITS) < NO_MERGE
        # Retire finished words: their symbols are final.
        finished_sym = ~merging[seg_of]
        if bool(finished_sym.any()):
            done_sym.append(sym[finished_sym])
            done_word.append(word_ids[seg_of[finished_sym]])
        pos = best[merging] & ((1 << _POS_BITS) - 1)
        sym = sym.copy()
        sym[pos] = table.merged[slot[pos]]
        keep = ~finished_sym
        keep[pos + 1] = False
        sym = sym[keep]
        lengths = lengths[merging] - 1
        word_ids = word_ids[merging]
    if not done_sym:
        return xp.zeros(0, dtype=np.int32), xp.zeros(n_words, dtype=np.int64)
    ids = xp.concatenate(done_sym)
    owner = xp.concatenate(done_word)
    # Each word's symbols arrive in order within a chunk and a word retires in one chunk, so
    # sorting by (owner, arrival) restores word order.
    order = xp.argsort(owner * ids.shape[0] + xp.arange(ids.shape[0], dtype=np.int64))
    counts = xp.bincount(owner, minlength=n_words)
    return ids[order].astype(np.int32), counts


def merge_word_heap(
    table: MergeTable, word: bytes, lookup: dict[int, tuple[int, int]]
) -> list[int]:
    """Exact sequential BPE of one (long) word with a heap, on the host.

    ``lookup`` maps a pair key to ``(priority, merged id)``. Same rule as the array loop:
    lowest priority first, leftmost on ties.
    """
    v = table.vocab_size
    sym = [int(table.byte_ids[b]) for b in word]
    n = len(sym)
    nxt = list(range(1, n + 1))
    prv = list(range(-1, n - 1))
    alive = [True] * n
    heap: list[tuple[int, int, int, int]] = []

    def push(i: int) -> None:
        j = nxt[i]
        if j < n:
            hit = lookup.get(sym[i] * v + sym[j])
            if hit is not None:
                heapq.heappush(heap, (hit[0], i, sym[i], sym[j]))

    for i in range(n - 1):
        push(i)
    while heap:
        _prio, i, a, b = heapq.heappop(heap)
        j = nxt[i] if alive[i] else n
        if j >= n or sym[i] != a or sym[j] != b:
            continue  # stale: a neighbour merged since this entry was pushed
        sym[i] = lookup[a * v + b][1]
        alive[j] = False
        nxt[i] = nxt[j]
        if nxt[j] < n:
            prv[nxt[j]] = i
        push(i)
        if prv[i] >= 0:
            push(prv[i])
    out, i = [], 0
    while i < n:
        out.append(sym[i])
        i = nxt[i]
    return out


def heap_lookup(table: MergeTable) -> dict[int, tuple[int, int]]:
    """Pair key -> (priority, merged id) as a host dict, for :func:`merge_word_heap`."""
    keys = np.asarray(table.keys).tolist()
    return dict(
        zip(
            keys,
            zip(
                np.asarray(table.priority).tolist(), np.asarray(table.merged).tolist(), strict=True
            ),
            strict=True,
        )
    )

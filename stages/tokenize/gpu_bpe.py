"""The BPE merge loop of one word, as a device function (one GPU thread per new word).

HF's rule, applied sequentially: merge the adjacent pair of lowest merge priority, leftmost on
ties, until no adjacent pair is a merge. The word's symbols live in its slot of the cache's id
arena (rewritten in place) and the priority of every adjacent pair in a scratch array, so a
merge costs one scan for the minimum plus two pair look-ups (binary search in the sorted merge
keys of :class:`bpe_array.MergeTable`). Words longer than the device limit (base64 blobs,
long runs) are merged on the host by :func:`bpe_array.merge_word_heap`; they are rare.
"""

from __future__ import annotations

from typing import Any

NO_RANK = 2**62


def find_merge(keys: Any, key: int) -> int:
    """Index of ``key`` in the sorted merge keys, or -1."""
    lo, hi = 0, keys.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    if lo < keys.shape[0] and keys[lo] == key:
        return lo
    return -1


def pair_rank(keys: Any, prio: Any, vocab: int, left: int, right: int) -> int:
    i = find_merge(keys, left * vocab + right)
    return int(prio[i]) if i >= 0 else NO_RANK


def bpe_word(
    sym: Any, off: int, n: int, rank: Any, roff: int, keys: Any, prio: Any, merged: Any, vocab: int
) -> int:
    """Merge the ``n`` symbols at ``sym[off:]`` in place; returns how many remain."""
    for j in range(n - 1):
        rank[roff + j] = pair_rank(keys, prio, vocab, int(sym[off + j]), int(sym[off + j + 1]))
    while n > 1:
        best, bj = NO_RANK, -1
        for j in range(n - 1):
            if rank[roff + j] < best:
                best, bj = rank[roff + j], j
        if bj < 0:
            break
        i = find_merge(keys, int(sym[off + bj]) * vocab + int(sym[off + bj + 1]))
        sym[off + bj] = merged[i]
        for j in range(bj + 1, n - 1):  # close the gap left by the right symbol
            sym[off + j] = sym[off + j + 1]
            rank[roff + j] = rank[roff + j + 1]
        n -= 1
        if bj > 0:
            rank[roff + bj - 1] = pair_rank(
                keys, prio, vocab, int(sym[off + bj - 1]), int(sym[off + bj])
            )
        if bj < n - 1:
            rank[roff + bj] = pair_rank(
                keys, prio, vocab, int(sym[off + bj]), int(sym[off + bj + 1])
            )
    return n


DEVICE_FNS = (find_merge, pair_rank, bpe_word)

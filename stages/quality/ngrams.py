"""Word n-gram repetition statistics of Gopher, computed with numpy instead of string joins.

datatrove's ``GopherRepetitionFilter`` builds every n-gram as a joined Python string (``" "``
joined for the top n-grams, ``""`` joined for the duplicated n-grams) and counts them in sets
and Counters. We give each n-gram an integer id that is equal for two n-grams exactly when
their joined strings are equal, then count ids with numpy:

1. The joined n-gram of words ``i..i+n-1`` is a substring of the whole joined word list, so its
   string is fixed by a (start, end) pair; no per-n-gram string is built.
2. A polynomial hash of every substring comes from prefix sums over the code points (wrapping
   uint64 arithmetic), in O(1) per n-gram.
3. Substrings whose hash is unique are unique strings. Only those that share a hash with another
   are compared as real strings, so the ids are exact (a hash collision cannot merge two
   different n-grams), and identical to what the string-based rules see.
"""

from __future__ import annotations

import numpy as np

_BASE = np.uint64(0x100000001B3)  # odd, so invertible modulo 2**64
_BASE_INV = np.uint64(pow(int(_BASE), -1, 1 << 64))


class JoinedWords:
    """The words of a document joined with ``sep``, with the offsets of every word."""

    def __init__(self, words: list[str], sep: str) -> None:
        self.text = sep.join(words)
        lengths = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
        starts = np.zeros(len(words), dtype=np.int64)
        if len(words) > 1:
            np.cumsum(lengths[:-1] + len(sep), out=starts[1:])
        self.starts = starts
        self.ends = starts + lengths
        self.n_words = len(words)
        codes = np.frombuffer(self.text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        with np.errstate(over="ignore"):
            powers = np.empty(len(codes) + 1, dtype=np.uint64)
            powers[0] = 1
            if len(codes):
                powers[1:] = np.cumprod(np.full(len(codes), _BASE, dtype=np.uint64))
            inv_powers = np.empty(len(codes) + 1, dtype=np.uint64)
            inv_powers[0] = 1
            if len(codes):
                inv_powers[1:] = np.cumprod(np.full(len(codes), _BASE_INV, dtype=np.uint64))
            prefix = np.zeros(len(codes) + 1, dtype=np.uint64)
            np.cumsum(codes * powers[:-1], out=prefix[1:])
        self._prefix = prefix
        self._inv_powers = inv_powers

    def ngram_spans(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) character offsets of each word n-gram in ``self.text``."""
        m = self.n_words - n + 1
        if m <= 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        return self.starts[:m], self.ends[n - 1 :]

    def ngram_ids(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact equality-class ids of the joined n-grams, and their lengths in characters."""
        starts, ends = self.ngram_spans(n)
        if len(starts) == 0:
            return starts, starts
        lengths = ends - starts
        with np.errstate(over="ignore"):
            h = (self._prefix[ends] - self._prefix[starts]) * self._inv_powers[starts]
            h = h * _BASE + lengths.astype(np.uint64)
        _, ids, counts = np.unique(h, return_inverse=True, return_counts=True)
        ids = ids.astype(np.int64)
        shared = np.flatnonzero(counts[ids] > 1)
        if len(shared):
            # verify hash-equal n-grams as strings: exact ids whatever the hash does
            base = int(ids.max()) + 1
            classes: dict[str, int] = {}
            text = self.text
            a_l, b_l = starts[shared].tolist(), ends[shared].tolist()
            spans = zip(shared.tolist(), a_l, b_l, strict=True)
            for pos, a, b in spans:
                ids[pos] = base + classes.setdefault(text[a:b], len(classes))
        return ids, lengths


def top_ngram_chars(joined: JoinedWords, n: int) -> int | None:
    """Characters of the most frequent n-gram times its count (first seen wins ties).

    Same as datatrove's ``find_top_duplicate(get_n_grams(words, n))``; None when the document
    has fewer than n words (datatrove skips the rule then).
    """
    ids, lengths = joined.ngram_ids(n)
    if len(ids) == 0:
        return None
    counts = np.bincount(ids)
    best = counts.max()
    first = int(np.flatnonzero(counts[ids] == best)[0])
    return int(lengths[first]) * int(best)


def duplicated_ngram_chars(joined: JoinedWords, n: int) -> int:
    """Characters in repeated n-grams, skipping over each repeat (datatrove's
    ``find_all_duplicate``): an n-gram seen before adds its length and jumps n words ahead."""
    ids, lengths = joined.ngram_ids(n)
    if len(ids) == 0:
        return 0
    if np.bincount(ids).max() == 1:
        return 0  # nothing repeats: the common case needs no scan
    ids_l = ids.tolist()
    len_l = lengths.tolist()
    seen: set[int] = set()
    total = 0
    idx = 0
    m = len(ids_l)
    while idx < m:
        g = ids_l[idx]
        if g in seen:
            total += len_l[idx]
            idx += n
        else:
            seen.add(g)
            idx += 1
    return total

"""Our byte-level BPE tokenizer: CPU pre-tokenization, a unique-word cache, array merges.

``encode_batch`` turns texts into ids in four steps:

1. pre-tokenize every text on the host (:mod:`tok_pretok`; GPU pre-tokenization is future
   work, see benchmarks/README_tokenize.md);
2. map every piece to a word slot through a host dict (the unique-word cache; special tokens
   and, with ``ignore_merges``, whole-word vocabulary hits are resolved here);
3. send only the *new* unique words to the array merge loop (:mod:`tok_bpe_array`), on
   NumPy or CuPy, and append their ids to the cache's flat store;
4. gather every document's ids from the store with one vectorized gather.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import numpy as np

from corpusforge.stages.tokenize.bpe_array import (
    MergeTable,
    heap_lookup,
    merge_word_heap,
    merge_words,
)
from corpusforge.stages.tokenize.byte_alphabet import bytes_to_unicode
from corpusforge.stages.tokenize.pretok import PreTokenizer, UnsupportedTokenizer


def array_module(device: str) -> ModuleType:
    """NumPy for ``cpu``, CuPy for ``gpu`` (the ``gpu`` extra)."""
    if device == "cpu":
        return np
    import cupy

    return cupy


class ArrayBPETokenizer:
    """Byte-level BPE with HF-identical ids, merge loop on NumPy (``cpu``) or CuPy (``gpu``)."""

    def __init__(
        self,
        tokenizer_json: str | dict[str, Any],
        device: str = "cpu",
        max_array_len: int = 128,
        max_cache_words: int = 2_000_000,
    ) -> None:
        spec = json.loads(tokenizer_json) if isinstance(tokenizer_json, str) else tokenizer_json
        model = spec.get("model", {})
        if model.get("type") != "BPE":
            raise UnsupportedTokenizer(f"model {model.get('type')!r} is not BPE")
        if (
            model.get("dropout")
            or model.get("continuing_subword_prefix")
            or model.get("end_of_word_suffix")
        ):
            raise UnsupportedTokenizer("BPE dropout / subword prefixes are not supported")
        self.pretok = PreTokenizer(spec)
        self.vocab: dict[str, int] = model["vocab"]
        for content, tid in self.pretok.special_ids.items():
            self.vocab.setdefault(content, tid)
        self.ignore_merges = bool(model.get("ignore_merges", False))
        self.xp = array_module(device)
        self.host_table = MergeTable.from_model(self.vocab, model["merges"])
        self.table = self.host_table.to(self.xp)
        self.max_array_len = max_array_len
        self.max_cache_words = max_cache_words
        self._byte_char = bytes_to_unicode()
        self._heap_lookup: dict[int, tuple[int, int]] | None = None
        self._reset_cache()

    @property
    def vocab_size(self) -> int:
        return max(self.vocab.values()) + 1

    def _reset_cache(self) -> None:
        self._slot: dict[str, int] = {}
        self._offsets = np.zeros(1, dtype=np.int64)  # word slot -> start in the flat store
        self._flat = np.zeros(0, dtype=np.int32)
        for content, tid in self.pretok.special_ids.items():
            self._add_words([content], [np.asarray([tid], dtype=np.int32)])

    def _add_words(self, words: list[str], ids: list[np.ndarray]) -> None:
        base = len(self._slot)
        for i, w in enumerate(words):
            self._slot[w] = base + i
        lens = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        self._offsets = np.concatenate([self._offsets, self._offsets[-1] + np.cumsum(lens)])
        self._flat = np.concatenate([self._flat, *ids]) if ids else self._flat

    def _bpe_new_words(self, words: list[str]) -> list[np.ndarray]:
        """Ids of words not in the cache: vocabulary hits, array merges, heap for long ones."""
        results: list[np.ndarray | None] = [None] * len(words)
        raw = [w.encode("utf-8") for w in words]
        array_idx: list[int] = []
        for i, b in enumerate(raw):
            if self.ignore_merges:
                tid = self.vocab.get("".join(self._byte_char[x] for x in b))
                if tid is not None:
                    results[i] = np.asarray([tid], dtype=np.int32)
                    continue
            if len(b) > self.max_array_len:
                if self._heap_lookup is None:
                    self._heap_lookup = heap_lookup(self.host_table)
                merged = merge_word_heap(self.host_table, b, self._heap_lookup)
                results[i] = np.asarray(merged, dtype=np.int32)
            else:
                array_idx.append(i)
        if array_idx:
            xp = self.xp
            buf = np.frombuffer(b"".join(raw[i] for i in array_idx), dtype=np.uint8)
            lengths = np.fromiter((len(raw[i]) for i in array_idx), np.int64, len(array_idx))
            sym = self.table.byte_ids[xp.asarray(buf)]
            ids, counts = merge_words(xp, self.table, sym, xp.asarray(lengths))
            ids_h = ids.get() if xp is not np else ids
            counts_h = counts.get() if xp is not np else counts
            for i, chunk in zip(array_idx, np.split(ids_h, np.cumsum(counts_h)[:-1]), strict=True):
                results[i] = chunk
        return results  # type: ignore[return-value]

    def encode_batch(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Ids of ``texts``: ``(flat int32 ids, int64 offsets of len(texts)+1)``."""
        pieces_per_doc = [self.pretok.pieces(t) for t in texts]
        slot = self._slot
        new_words: dict[str, None] = {}
        for pieces in pieces_per_doc:
            for p in pieces:
                if p not in slot:
                    new_words[p] = None
        if new_words:
            if len(slot) + len(new_words) > self.max_cache_words:
                self._reset_cache()
                slot = self._slot
                new_words = {p: None for ps in pieces_per_doc for p in ps if p not in slot}
            words = list(new_words)
            self._add_words(words, self._bpe_new_words(words))
        n_pieces = np.fromiter((len(p) for p in pieces_per_doc), np.int64, len(texts))
        slots = np.fromiter(
            (slot[p] for pieces in pieces_per_doc for p in pieces), np.int64, int(n_pieces.sum())
        )
        starts = self._offsets[slots]
        lens = self._offsets[slots + 1] - starts
        total = int(lens.sum())
        # gather: position k of the output reads store[starts[piece(k)] + k - first(piece(k))]
        first = np.cumsum(lens) - lens
        index = np.repeat(starts - first, lens) + np.arange(total, dtype=np.int64)
        ids = self._flat[index]
        piece_end = np.concatenate([[0], np.cumsum(lens)])
        doc_piece_end = np.concatenate([[0], np.cumsum(n_pieces)])
        return ids, piece_end[doc_piece_end]

    def encode(self, text: str) -> list[int]:
        ids, _ = self.encode_batch([text])
        return ids.tolist()

"""Byte-level BPE entirely on the device: text bytes in, Megatron-layout tokens out.

One batch is one upload (UTF-8 bytes + document offsets) and one download (a single buffer
holding the int32 document lengths, then the tokens in the Megatron dtype). In between, all
on the device: special tokens and the split pattern (:mod:`gpu_pretok`), the word cache with
the merge loop for new words (:mod:`gpu_cache`, :mod:`gpu_bpe`), BOS/EOS framing and the
gather of every document's ids (``gather_body``). Only words longer than ``max_device_word``
bytes and the rare special-token overlaps are resolved on the host.

Backends (:mod:`gpu_backend`): ``cuda`` on a GPU, ``cpu`` (the same bodies compiled for the
CPU) and ``sim`` (numba's CUDA simulator) for tests without a GPU. Ids are HF ``tokenizers``'
ids on every backend; the tests check it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa

from corpusforge.stages.sinks.megatron_format import token_dtype
from corpusforge.stages.tokenize.bpe_array import MergeTable
from corpusforge.stages.tokenize.byte_alphabet import unicode_to_bytes
from corpusforge.stages.tokenize.gpu_backend import get_backend, resolve_backend
from corpusforge.stages.tokenize.gpu_cache import CacheFull, DeviceWordCache
from corpusforge.stages.tokenize.gpu_pattern import compile_pattern
from corpusforge.stages.tokenize.gpu_pretok import DevicePreTokenizer
from corpusforge.stages.tokenize.pretok import (
    UnsupportedTokenizer,
    added_tokens,
    byte_level_options,
)

# Sizes per backend: the GPU holds millions of words; CPU test runs stay small.
DEFAULTS = {
    "cuda": {"cache_slots": 1 << 23, "arena_bytes": 256 << 20, "chunk_bytes": 64},
    "cpu": {"cache_slots": 1 << 20, "arena_bytes": 32 << 20, "chunk_bytes": 128},
    "sim": {"cache_slots": 1 << 18, "arena_bytes": 4 << 20, "chunk_bytes": 32},
}


def gather_body(
    tid: int,
    special: Any,
    slots: Any,
    out_pos: Any,
    tables: Any,
    arena_ids: Any,
    out: Any,
) -> None:
    """Copy the ids of piece ``tid`` to its place in the output."""
    o = out_pos[tid]
    if special[tid] >= 0:
        out[o] = special[tid]
        return
    slot = slots[tid]
    w, n = tables[slot, 0], tables[slot, 2]
    for j in range(n):
        out[o + j] = arena_ids[w + j]


@cache
def kernels(backend: str) -> SimpleNamespace:
    return get_backend(backend).build((), (gather_body,))


@dataclass
class TokenBatch:
    """Megatron layout of a batch: tokens of all documents back to back, and their lengths."""

    lengths: np.ndarray  # int32 per document
    tokens: np.ndarray  # token_dtype(vocab size): uint16 below 65,500 ids, else int32

    def offsets(self) -> np.ndarray:
        off = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=off[1:])
        return off


def _check_model(spec: dict[str, Any]) -> dict[str, Any]:
    model = spec.get("model", {})
    if model.get("type") != "BPE":
        raise UnsupportedTokenizer(f"model {model.get('type')!r} is not BPE")
    if (
        model.get("dropout")
        or model.get("continuing_subword_prefix")
        or model.get("end_of_word_suffix")
    ):
        raise UnsupportedTokenizer("BPE dropout / subword prefixes are not supported")
    if spec.get("normalizer") is not None:
        raise UnsupportedTokenizer("normalizers are not supported by the device path")
    return model


def _check_spec(spec: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The BPE model and split pattern of a tokenizer the device path runs exactly; raises
    :class:`UnsupportedTokenizer` for anything else."""
    model = _check_model(spec)
    pattern, prefix_space = byte_level_options(spec.get("pre_tokenizer"))
    if prefix_space:
        raise UnsupportedTokenizer("add_prefix_space is not supported by the device path")
    return model, pattern


def device_unsupported(tokenizer_json: str) -> str | None:
    """Why the device path cannot run this tokenizer, or None when it can (no GPU needed:
    the planner asks before it requests GPUs for ``device: auto``)."""
    try:
        spec = json.loads(tokenizer_json)
        _, pattern = _check_spec(spec)
        added_tokens(spec)
        if pattern:
            compile_pattern(pattern)
    except UnsupportedTokenizer as exc:
        return str(exc)
    return None


class DeviceBPETokenizer:
    """HF-identical byte-level BPE on a GPU (or its CPU/simulator stand-ins)."""

    def __init__(
        self,
        tokenizer_json: str | dict[str, Any],
        backend: str = "auto",
        max_device_word: int = 256,
        **sizes: int,
    ) -> None:
        spec = json.loads(tokenizer_json) if isinstance(tokenizer_json, str) else tokenizer_json
        model, pattern = _check_spec(spec)
        self.backend = resolve_backend(backend)
        opts = {**DEFAULTS[self.backend], **sizes}
        self.specials = added_tokens(spec)
        vocab: dict[str, int] = dict(model["vocab"])
        self.vocab_size = max([*vocab.values(), *self.specials.values()]) + 1
        self.dtype = token_dtype(self.vocab_size)
        self.pretok = DevicePreTokenizer(
            self.backend,
            compile_pattern(pattern) if pattern else None,
            self.specials,
            opts["chunk_bytes"],
        )
        self.cache = DeviceWordCache(
            self.backend,
            MergeTable.from_model(vocab, model["merges"]),
            opts["cache_slots"],
            opts["arena_bytes"],
            max_device_word,
        )
        if model.get("ignore_merges"):
            self._prefill_vocab(vocab)
        self.xp = self.cache.xp
        self.k = kernels(self.backend)

    def _prefill_vocab(self, vocab: dict[str, int]) -> None:
        back = unicode_to_bytes()
        words, ids = [], []
        for token, tid in vocab.items():
            if all(c in back for c in token):
                words.append(bytes(back[c] for c in token))
                ids.append(tid)
        self.cache.prefill(words, ids)

    def encode_buffer(
        self,
        data: np.ndarray,
        offsets: np.ndarray,
        bos: int | None = None,
        eos: int | None = None,
    ) -> TokenBatch:
        """Tokens of documents ``data[offsets[i]:offsets[i+1]]`` (UTF-8), framed by bos/eos.

        A batch with more new words than the cache holds is split in two by documents.
        """
        try:
            return self._encode_once(data, offsets, bos, eos)
        except CacheFull:
            if len(offsets) <= 2:
                raise
        mid = len(offsets) // 2
        halves = [
            self.encode_buffer(
                data[offsets[a] : offsets[b]], offsets[a : b + 1] - offsets[a], bos, eos
            )
            for a, b in ((0, mid), (mid, len(offsets) - 1))
        ]
        return TokenBatch(
            lengths=np.concatenate([h.lengths for h in halves]),
            tokens=np.concatenate([h.tokens for h in halves]),
        )

    def _encode_once(
        self, data: np.ndarray, offsets: np.ndarray, bos: int | None, eos: int | None
    ) -> TokenBatch:
        xp = self.xp
        n_docs = len(offsets) - 1
        text, doc_off = xp.asarray(data), xp.asarray(offsets.astype(np.int64))
        p = self.pretok.pieces(text, doc_off)
        starts = p.starts
        ends = xp.concatenate([starts[1:], xp.asarray([int(data.shape[0])], dtype=np.int64)])
        normal = xp.flatnonzero(p.special < 0)
        slots = xp.full(int(starts.shape[0]), -1, dtype=np.int64)
        if normal.shape[0]:
            slots[normal] = self.cache.resolve(text, data, starts, ends, normal)
        counts = xp.ones(int(starts.shape[0]), dtype=np.int64)
        counts[normal] = self.cache.nid[slots[normal]]
        return self._assemble(p.special, slots, counts, starts, doc_off, n_docs, bos, eos)

    def _assemble(
        self,
        special: Any,
        slots: Any,
        counts: Any,
        starts: Any,
        doc_off: Any,
        n_docs: int,
        bos: int | None,
        eos: int | None,
    ) -> TokenBatch:
        """Write lengths and framed ids into one device buffer; copy it to the host once."""
        xp = self.xp
        extra, head = (bos is not None) + (eos is not None), int(bos is not None)
        cum = xp.concatenate([xp.zeros(1, dtype=np.int64), xp.cumsum(counts)])
        doc_piece = xp.searchsorted(starts, doc_off)
        body = cum[doc_piece]  # tokens before each document, unframed
        doc_start = body[:-1] + xp.arange(n_docs, dtype=np.int64) * extra
        lengths = (body[1:] - body[:-1]) + extra
        total = int(cum[-1]) + n_docs * extra
        buf = xp.empty(4 * n_docs + self.dtype.itemsize * total, dtype=np.uint8)
        lengths_out = buf[: 4 * n_docs].view(np.int32)
        out = buf[4 * n_docs :].view(self.dtype)
        lengths_out[...] = lengths.astype(np.int32)
        doc_of_piece = xp.searchsorted(doc_off, starts, side="right") - 1
        out_pos = cum[:-1] + doc_of_piece * extra + head
        self.k.gather_body(
            int(starts.shape[0]),
            special,
            slots,
            out_pos,
            self.cache.tables,
            self.cache.arena_ids,
            out,
        )
        if bos is not None:
            out[doc_start] = bos
        if eos is not None:
            out[doc_start + lengths - 1] = eos
        host = get_backend(self.backend).to_host(buf)
        return TokenBatch(
            lengths=host[: 4 * n_docs].view(np.int32), tokens=host[4 * n_docs :].view(self.dtype)
        )

    def encode_arrow(
        self, texts: pa.Array | pa.ChunkedArray, bos: int | None = None, eos: int | None = None
    ) -> TokenBatch:
        """Tokens of an Arrow string column, read from its buffers (nulls are empty)."""
        arr = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
        if arr.null_count:
            arr = arr.fill_null("")
        if pa.types.is_string(arr.type):
            arr = arr.cast(pa.large_string())
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[
            arr.offset : arr.offset + len(arr) + 1
        ]
        data = np.frombuffer(arr.buffers()[2] or b"", dtype=np.uint8)
        first, last = int(offsets[0]), int(offsets[-1])
        return self.encode_buffer(data[first:last], offsets - first, bos, eos)

    def encode_batch(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(flat int32 ids, int64 offsets)`` of ``texts``, no BOS/EOS (ArrayBPE's API)."""
        batch = self.encode_arrow(pa.array(texts, type=pa.large_string()))
        return batch.tokens.astype(np.int32), batch.offsets()

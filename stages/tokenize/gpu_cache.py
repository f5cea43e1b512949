"""The word cache on the device: an open-addressing hash table from piece bytes to token ids.

Every piece of a batch looks itself up (one thread per piece). A miss claims an empty slot with
an atomic compare-and-swap, so each new word gets exactly one *owner* thread even when it
occurs many times in the batch; the other occurrences see the claimed key and wait for the
fill (``PENDING``). Owners copy their bytes into the byte arena and run the merge loop
(:mod:`gpu_bpe`) into the id arena at the same offset; then pending occurrences compare their
bytes with the owner's. Keys are 62-bit polynomial hashes, but a hit is only a hit after the
bytes compare equal: a hash collision costs a second probe round, never a wrong id.

When the table or the arenas fill up the cache is reset (to its prefill: with
``ignore_merges`` the whole vocabulary is in it, since such a word is one token).
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np

from corpusforge.stages.tokenize import gpu_bpe
from corpusforge.stages.tokenize.bpe_array import MergeTable, heap_lookup, merge_word_heap
from corpusforge.stages.tokenize.gpu_backend import get_backend
from corpusforge.stages.tokenize.gpu_bpe import bpe_word

HIT, OWNER, PENDING, FULL = 0, 1, 2, 3
_P1, _P2 = 2147483629, 2147483587  # primes below 2^31: the hash never overflows int64
MAX_PROBE = 64


def word_key(text: Any, s: int, e: int) -> int:
    """Nonzero 62-bit key of ``text[s:e]`` (two polynomial hashes modulo primes)."""
    h1, h2 = e - s, 0
    for i in range(s, e):
        b = int(text[i]) + 1
        h1 = (h1 * 257 + b) % _P1
        h2 = (h2 * 263 + b) % _P2
    return ((h1 << 31) | h2) + 1


def same_bytes(text: Any, s: int, arena: Any, o: int, n: int) -> bool:
    for j in range(n):
        if text[s + j] != arena[o + j]:
            return False
    return True


def lookup_body(
    tid: int,
    idx: Any,
    pstart: Any,
    pend: Any,
    text: Any,
    keys: Any,
    ready: Any,
    tables: Any,
    arena: Any,
    mask: int,
    slot_out: Any,
    state_out: Any,
) -> None:
    """Find or claim the slot of piece ``idx[tid]`` (linear probing)."""
    p = idx[tid]
    s, e = int(pstart[p]), int(pend[p])
    key = word_key(text, s, e)
    slot = (key ^ (key >> 29)) & mask
    for _ in range(MAX_PROBE):
        k = keys[slot]
        if k == 0:
            old = cas(keys, slot, 0, key)  # noqa: F821 (the backend's compare-and-swap)
            if old == 0:
                slot_out[tid], state_out[tid] = slot, OWNER
                return
            k = old
        if k == key:
            if ready[slot] == 0:
                slot_out[tid], state_out[tid] = slot, PENDING
                return
            n = e - s
            if tables[slot, 1] == n and same_bytes(text, s, arena, int(tables[slot, 0]), n):
                slot_out[tid], state_out[tid] = slot, HIT
                return
        slot = (slot + 1) & mask
    slot_out[tid], state_out[tid] = -1, FULL


def fill_body(
    tid: int,
    owners: Any,
    pstart: Any,
    text: Any,
    slots: Any,
    base: Any,
    lens: Any,
    fixed: Any,
    tables: Any,
    arena: Any,
    arena_ids: Any,
    rank: Any,
    r0: int,
    byte_ids: Any,
    mkeys: Any,
    prio: Any,
    merged: Any,
    vocab: int,
    max_word: int,
) -> None:
    """Store a new word's bytes and ids; ``tables`` rows are (woff, wlen, nid) per slot."""
    s, o, n, slot = int(pstart[owners[tid]]), int(base[tid]), int(lens[tid]), slots[tid]
    for j in range(n):
        b = text[s + j]
        arena[o + j] = b
        arena_ids[o + j] = byte_ids[b]
    tables[slot, 0], tables[slot, 1] = o, n
    if fixed[tid] >= 0:  # a vocabulary word (prefill): one token
        arena_ids[o] = fixed[tid]
        tables[slot, 2] = 1
    elif n > max_word:
        tables[slot, 2] = -1  # merged on the host
    else:
        tables[slot, 2] = bpe_word(arena_ids, o, n, rank, o - r0, mkeys, prio, merged, vocab)


def verify_body(
    tid: int,
    idx: Any,
    slots: Any,
    pstart: Any,
    pend: Any,
    text: Any,
    tables: Any,
    arena: Any,
    ok: Any,
) -> None:
    """``ok[tid]``: the pending piece ``idx[tid]`` has the bytes of the word in its slot."""
    p, slot = idx[tid], slots[tid]
    s, n = int(pstart[p]), int(pend[p]) - int(pstart[p])
    same = tables[slot, 1] == n and same_bytes(text, s, arena, int(tables[slot, 0]), n)
    ok[tid] = 1 if same else 0


@cache
def kernels(backend: str) -> SimpleNamespace:
    return get_backend(backend).build(
        (word_key, same_bytes, *gpu_bpe.DEVICE_FNS), (lookup_body, fill_body, verify_body)
    )


class CacheFull(RuntimeError):
    """One batch has more new words than the cache holds: use smaller batches."""


class DeviceWordCache:
    """Device hash table + arenas; :meth:`resolve` maps pieces to slots, filling misses."""

    def __init__(
        self, backend: str, table: MergeTable, slots: int, arena_bytes: int, max_word: int
    ) -> None:
        self.bk = get_backend(backend)
        self.k = kernels(backend)
        xp = self.xp = self.bk.xp
        if slots & (slots - 1):
            raise ValueError("cache slots must be a power of two")
        self.n_slots, self.arena_cap, self.max_word = slots, arena_bytes, max_word
        self.host_table = table
        self.merge = table.to(xp)
        self.keys = xp.zeros(slots, dtype=np.int64)
        self.ready = xp.zeros(slots, dtype=np.uint8)
        self.tables = xp.zeros((slots, 3), dtype=np.int64)  # woff, wlen, nid
        self.arena = xp.zeros(arena_bytes, dtype=np.uint8)
        self.arena_ids = xp.zeros(arena_bytes, dtype=np.int32)
        self.top = self.used = 0
        self._snapshot: tuple[Any, ...] | None = None
        self._heap: dict[int, tuple[int, int]] | None = None
        self.resets = 0

    @property
    def nid(self) -> Any:
        return self.tables[:, 2]

    def prefill(self, words: list[bytes], ids: list[int]) -> None:
        """Put whole-word tokens in the cache and keep that state for every reset."""
        xp = self.xp
        data = np.frombuffer(b"".join(words), dtype=np.uint8)
        ends = np.cumsum([len(w) for w in words]).astype(np.int64)
        pstart, pend = xp.asarray(ends - [len(w) for w in words]), xp.asarray(ends)
        fixed = xp.asarray(np.asarray(ids, dtype=np.int32))
        if self.bk.name == "sim":
            # 100k vocabulary words are minutes of simulated threads; the CPU-compiled bodies
            # build the identical table (the simulator still runs every batch's kernels).
            self.k = kernels("cpu")
        try:
            self.resolve(xp.asarray(data), data, pstart, pend, xp.arange(len(words)), fixed)
        finally:
            self.k = kernels(self.bk.name)
        self._snapshot = tuple(
            a.copy() for a in (self.keys, self.ready, self.tables, self.arena, self.arena_ids)
        )
        self._snap_counts = (self.top, self.used)

    def reset(self) -> None:
        self.resets += 1
        if self._snapshot is None:
            for a in (self.keys, self.ready, self.tables):
                a[...] = 0
            self.top = self.used = 0
            return
        for dst, src in zip(
            (self.keys, self.ready, self.tables, self.arena, self.arena_ids),
            self._snapshot,
            strict=True,
        ):
            dst[...] = src
        self.top, self.used = self._snap_counts

    def resolve(
        self, text: Any, host_text: np.ndarray, pstart: Any, pend: Any, idx: Any, fixed: Any = None
    ) -> Any:
        """Slot of every piece in ``idx`` (int64, aligned with ``idx``), new words filled."""
        for _ in range(2):
            slots = self._resolve_once(text, host_text, pstart, pend, idx, fixed)
            if slots is not None:
                return slots
            self.reset()  # also drops the slots this failed pass claimed but never filled
        raise CacheFull(
            f"a batch of {int(idx.shape[0])} pieces does not fit the device word cache "
            f"({self.n_slots} slots, {self.arena_cap} arena bytes)"
        )

    def _resolve_once(
        self, text: Any, host_text: np.ndarray, pstart: Any, pend: Any, idx: Any, fixed: Any
    ) -> Any:
        """One pass of lookup rounds; None when the cache must be reset first."""
        xp = self.xp
        slots = xp.full(int(idx.shape[0]), -1, dtype=np.int64)
        active = xp.arange(int(idx.shape[0]))
        while active.shape[0]:
            m = int(active.shape[0])
            slot_a, state = xp.empty(m, dtype=np.int64), xp.empty(m, dtype=np.int8)
            self.k.lookup_body(
                m,
                idx[active],
                pstart,
                pend,
                text,
                self.keys,
                self.ready,
                self.tables,
                self.arena,
                self.n_slots - 1,
                slot_a,
                state,
            )
            own = xp.flatnonzero(state == OWNER)
            if not self._fill(
                text,
                host_text,
                pstart,
                pend,
                idx[active[own]],
                slot_a[own],
                fixed,
                active[own],
                bool((state == FULL).any()),
            ):
                return None
            slots[active] = slot_a
            pend_i = xp.flatnonzero(state == PENDING)
            ok = xp.empty(int(pend_i.shape[0]), dtype=np.uint8)
            self.k.verify_body(
                int(pend_i.shape[0]),
                idx[active[pend_i]],
                slot_a[pend_i],
                pstart,
                pend,
                text,
                self.tables,
                self.arena,
                ok,
            )
            active = active[pend_i[ok == 0]]  # true hash collisions: probe on
        return slots

    def _fill(
        self,
        text: Any,
        host_text: np.ndarray,
        pstart: Any,
        pend: Any,
        owners: Any,
        slots: Any,
        fixed: Any,
        fixed_at: Any,
        full: bool,
    ) -> bool:
        xp, t = self.xp, self.merge
        n_own = int(owners.shape[0])
        lens = (pend[owners] - pstart[owners]).astype(np.int64)
        total = int(lens.sum()) if n_own else 0
        if full or self.used + n_own > self.n_slots * 0.6 or self.top + total > self.arena_cap:
            return False
        if not n_own:
            return True
        base = self.top + xp.cumsum(lens) - lens
        rank = xp.empty(max(total, 1), dtype=np.int64)
        fix = fixed[fixed_at] if fixed is not None else xp.full(n_own, -1, dtype=np.int32)
        self.k.fill_body(
            n_own,
            owners,
            pstart,
            text,
            slots,
            base,
            lens,
            fix,
            self.tables,
            self.arena,
            self.arena_ids,
            rank,
            self.top,
            t.byte_ids,
            t.keys,
            t.priority,
            t.merged,
            t.vocab_size,
            self.max_word,
        )
        self._merge_long_on_host(host_text, pstart, owners, slots, base, lens)
        self.ready[slots] = 1
        self.top += total
        self.used += n_own
        return True

    def _merge_long_on_host(
        self, host_text: np.ndarray, pstart: Any, owners: Any, slots: Any, base: Any, lens: Any
    ) -> None:
        long_i = self.xp.flatnonzero(self.nid[slots] < 0)
        if not long_i.shape[0]:
            return
        to_host = self.bk.to_host
        if self._heap is None:
            self._heap = heap_lookup(self.host_table)
        for s, o, n, slot in zip(
            to_host(pstart[owners[long_i]]).tolist(),
            to_host(base[long_i]).tolist(),
            to_host(lens[long_i]).tolist(),
            to_host(slots[long_i]).tolist(),
            strict=True,
        ):
            ids = merge_word_heap(self.host_table, bytes(host_text[s : s + n]), self._heap)
            self.arena_ids[o : o + len(ids)] = self.xp.asarray(np.asarray(ids, dtype=np.int32))
            self.tables[slot, 2] = len(ids)

"""Words of a whole Arrow batch from the compiled kernels, with the Python path as fallback.

:func:`batch_words` gives, for a batch's text column, the words of every document the kernels
could split (datatrove's words, as byte spans) and the indices of the documents they could not
(``fallback``): those take the stages' Python path, so decisions never depend on the kernels
covering a document. How often that happens is counted in :data:`COUNTS`.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.stages.dedup.kernels import utf8_buffers
from corpusforge.stages.quality import wordkernel
from corpusforge.stages.quality.affix_search import suffix_width
from corpusforge.stages.quality.charclass import CharTable
from corpusforge.stages.quality.repkernel import words8
from corpusforge.stages.quality.words import (
    BREAKS_SPACY,
    ChunkWords,
    chunk_words_for,
    tokens_of,
)

MEMO_SLOTS = 1 << 18  # chunk memo table (entries kept under 60% of it, then it starts over)
SPACY_GROUP = 4096  # chunks per spaCy call when the memo learns
NEAR_BYTES = 256  # bytes read on either side of a boundary to check (more: whole document)
MAX_ROUNDS = 3  # scans of a batch: unknown characters and missing chunks learnt in between
MAX_GAPS = 1 << 16  # missing chunks a round puts in place (a document past them: scanned again)
_SCAN_AGAIN = [wordkernel.UNKNOWN_CHAR, wordkernel.MISSING_CHUNK, wordkernel.REDO]
COUNTS = {
    "docs": 0,
    "fallback_docs": 0,
    "checked_docs": 0,
    "filled_docs": 0,
    "memo_chunks": 0,
    "memo_resets": 0,
    "spacy_cpu_s": 0.0,
}


@dataclass
class BatchWords:
    data: np.ndarray  # the batch's UTF-8 bytes
    offsets: np.ndarray  # int64, one more than documents
    ok: np.ndarray  # bool per document: the kernels split it
    doc_off: np.ndarray  # words of document d: [doc_off[d], doc_off[d + 1])
    ws: np.ndarray  # byte span of each word: data[ws[w]:we[w]]
    we: np.ndarray
    table: np.ndarray  # the character flags

    @functools.cached_property
    def data8(self) -> np.ndarray:
        """``data`` as unaligned 64-bit words (:func:`.repkernel.words8`)."""
        return words8(self.data)

    @property
    def fallback(self) -> list[int]:
        return np.flatnonzero(~self.ok).tolist()


def _hash(s: str) -> np.uint64:
    b = np.frombuffer(s.encode("utf-8"), dtype=np.uint8)
    return np.uint64(wordkernel.hash_bytes(b, 0, len(b)))


def _orth(token: str) -> int:
    """spaCy's id of a token's text (its ``ORTH``)."""
    from spacy.strings import get_string_id

    return get_string_id(token)


def _split(key: bytes, lens: np.ndarray) -> list[str]:
    """The tokens of chunk ``key`` from their UTF-8 byte lengths."""
    ends = np.cumsum(lens).tolist()
    return [key[a:b].decode("utf-8") for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def _blob(strings: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated bytes and offsets of ``strings``."""
    off = np.zeros(len(strings) + 1, np.int64)
    off[1:] = np.cumsum([len(b) for b in strings])
    return np.frombuffer(b"".join(strings) or b"\0", np.uint8), off


class Scanner:
    """The kernels' state for one language: character table, special cases, chunk memo."""

    def __init__(self, chunked: ChunkWords) -> None:
        self.chunked = chunked
        self.chars = CharTable(chunked.tokenizer, chunked.punct_chars)
        self.specials = np.unique(np.array([_hash(k) for k in chunked.specials], np.uint64))
        pairs = [wordkernel.pair_hash(_hash(a), _hash(b)) for a, b in chunked.pairs]
        self.pairs = np.unique(np.array(pairs, dtype=np.uint64))
        bits = wordkernel.bloom
        self.sets = (self.specials, bits(self.specials, 16), self.pairs, bits(self.pairs, 14))
        self.dash = _blob([h.encode("utf-8") for h in self.chars.dashes])
        # the longest match of a suffix rule (unknown: no tail after a digit is taken as free)
        self.suffix_width = suffix_width(chunked.tokenizer.suffix_search) or 1 << 30
        self._affixes = np.empty(wordkernel.MAX_AFFIX + 3, np.int64)  # kernel scratch
        # spaCy's ids of the tokens a special-case merge starts with (see _learn)
        self._merged_orth = np.array([_orth(t) for t in chunked.merged], np.uint64)
        self._reset_memo()
        # every kernel of a scan loaded now (numba's cache, ~50 ms), not in a first batch: a
        # chunk only spaCy splits and a private-use character, learnt when met
        self.scan(*utf8_buffers(pa.array(["a k4=9&e7=c \U000ffff0"], pa.large_string())))
        self._reset_memo()

    def _reset_memo(self) -> None:
        n = MEMO_SLOTS
        self.memo = [
            np.zeros(n, np.uint64),  # key hash
            np.full(n, -1, np.int64),  # key start in the arena (-1: free slot)
            np.zeros(n, np.int64),  # key length
            np.zeros(n, np.int64),  # first token slot
            np.zeros(n, np.int64),  # token count
            np.zeros(n, np.uint8),  # MEMO_CHANGED / MEMO_WHOLE
            np.zeros(1 << 22, np.uint8),  # key bytes
            np.zeros(1 << 20, np.int64),  # token byte lengths
            np.zeros(n, np.uint64),  # hash of the first token before the matcher
            np.zeros(n, np.uint64),  # hash of the last token before the matcher
        ]
        self.used = np.zeros(3, np.int64)

    def _insert(
        self, keys: list[bytes], lens: np.ndarray, tok_off: np.ndarray, flags, edges
    ) -> None:
        """Chunks ``keys`` into the memo: token byte lengths ``lens[tok_off[c]:tok_off[c +
        1]]``, ``flags`` and ``edges`` per chunk (see :func:`.wordkernel.memo_insert_many`)."""
        blob, key_off = _blob(keys)
        done = 0
        while done < len(keys):
            sub = key_off[done:] - key_off[done], tok_off[done:] - tok_off[done]
            added = wordkernel.memo_insert_many(
                blob[key_off[done] :], sub[0], lens[tok_off[done] :], sub[1], flags[done:],
                edges[done:], tuple(self.memo), self.used,
            )  # fmt: skip
            done += added
            if done < len(keys):
                n_toks = int(tok_off[done + 1] - tok_off[done])
                self._make_room(int(sub[0][added + 1] - sub[0][added]), n_toks)
        COUNTS["memo_chunks"] += len(keys)

    def _make_room(self, key_len: int, n_toks: int) -> None:
        """Grow the arenas, or start the memo over when its table is full (bounded memory)."""
        if 5 * (self.used[2] + 1) > 3 * MEMO_SLOTS:
            self._reset_memo()
            COUNTS["memo_resets"] += 1
            return
        for slot, need in ((6, self.used[0] + key_len), (7, self.used[1] + n_toks)):
            while need > len(self.memo[slot]):
                self.memo[slot] = np.concatenate([self.memo[slot], np.zeros_like(self.memo[slot])])

    def learn_chunks(self, data: np.ndarray, spans: np.ndarray) -> None:
        """spaCy's tokens of each missing chunk into the memo. The chunks go through spaCy
        as one newline-joined text per group (one call, not one per chunk): spaCy makes the
        newlines tokens of their own, so no special-case pattern can match across two
        chunks, and each chunk gets exactly the tokens it gets alone."""
        keys = sorted({data[s:e].tobytes() for s, e in spans.tolist()})
        for lo in range(0, len(keys), SPACY_GROUP):
            group = keys[lo : lo + SPACY_GROUP]
            self._insert(group, *self._learn(group))

    def _learn(self, keys: list[bytes]):
        """(token byte lengths of the chunks ``keys``, one after the other; their offsets
        per chunk; flags; byte lengths of the first and last token before the matcher)."""
        texts = [k.decode("utf-8") for k in keys]
        whole = [c for c, t in enumerate(texts) if BREAKS_SPACY in t]
        if whole:
            return self._learn_with_whole(keys, whole)
        lens, counts, orth = self._token_lengths(texts, self.chunked.post)
        off = np.zeros(len(keys) + 1, np.int64)
        off[1:] = np.cumsum(counts)
        flags = np.zeros(len(keys), np.uint8)
        edges = np.stack([lens[off[:-1]], lens[off[1:] - 1]], axis=1)
        # the tokens before the matcher can differ only where a token could be a merge's
        maybe = np.flatnonzero(np.isin(orth, self._merged_orth))  # tokens
        candidates = np.unique(np.searchsorted(off, maybe, side="right") - 1)
        merged = []
        for c in candidates.tolist():
            if self.chunked.shows_merge(_split(keys[c], lens[off[c] : off[c + 1]])):
                merged.append(c)
        if merged:
            pre, pre_counts, _ = self._token_lengths([texts[c] for c in merged], self.chunked.pre)
            pre_off = np.concatenate([[0], np.cumsum(pre_counts)])
            for i, c in enumerate(merged):
                before = pre[pre_off[i] : pre_off[i + 1]]
                if not np.array_equal(before, lens[off[c] : off[c + 1]]):
                    flags[c] = wordkernel.MEMO_CHANGED
                edges[c] = before[0], before[-1]
        return lens, off, flags, edges

    def _learn_with_whole(self, keys: list[bytes], whole: list[int]):
        """:meth:`_learn` where the chunks ``whole`` hold :data:`.words.BREAKS_SPACY`: spaCy's
        vocabulary fails on it (datatrove retries such texts without it), so they are not
        tokenized but kept whole (MEMO_WHOLE: their documents take the Python path)."""
        rest = sorted(set(range(len(keys))) - set(whole))
        per_chunk: list[np.ndarray] = [np.zeros(0, np.int64)] * len(keys)
        flags = np.full(len(keys), wordkernel.MEMO_WHOLE, np.uint8)
        edges = np.array([(len(k), len(k)) for k in keys], np.int64).reshape(-1, 2)
        for c in whole:
            per_chunk[c] = np.array([len(keys[c])], np.int64)
        if rest:
            lens, off, rest_flags, rest_edges = self._learn([keys[c] for c in rest])
            for i, c in enumerate(rest):
                per_chunk[c] = lens[off[i] : off[i + 1]]
            flags[rest], edges[rest] = rest_flags, rest_edges
        off = np.zeros(len(keys) + 1, np.int64)
        off[1:] = np.cumsum([len(t) for t in per_chunk])
        return np.concatenate(per_chunk), off, flags, edges

    def _token_lengths(self, texts: list[str], tokenizer):
        """``tokenizer``'s tokens of each chunk (see :meth:`learn_chunks`) as (UTF-8 byte
        lengths, one chunk after the other; count per chunk; their ORTH ids)."""
        from spacy.attrs import IDX, LENGTH, ORTH

        if not texts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint64)
        joined = "\n".join(texts)
        with tokenizer.vocab.memory_zone():
            arr = tokenizer(joined).to_array([IDX, LENGTH, ORTH])
        char_lens = np.array([len(t) for t in texts], np.int64)
        starts = np.zeros(len(texts), np.int64)
        starts[1:] = np.cumsum(char_lens[:-1] + 1)
        at, n = arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64)
        which = np.searchsorted(starts, at, side="right") - 1
        inside = at < starts[which] + char_lens[which]  # not a newline token
        at, n, which, orth = at[inside], n[inside], which[inside], arr[inside, 2]
        if joined.isascii():
            pos = np.arange(len(joined) + 1, dtype=np.int64)
        else:  # byte position of each character
            cps = np.frombuffer(joined.encode("utf-32-le"), np.uint32)
            width = 1 + (cps >= 0x80) + (cps >= 0x800) + (cps >= 0x10000)
            pos = np.concatenate([[0], np.cumsum(width)])
        lens = pos[at + n] - pos[at]
        counts = np.bincount(which, minlength=len(texts))
        # cannot happen with newline separators, but be exact: tokens that do not tile
        # their chunk are replaced by the chunk's own tokenization
        tiled = np.zeros(len(texts), np.int64)
        np.add.at(tiled, which, n)
        firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        ok = (tiled == char_lens) & (counts > 0)
        ok[counts > 0] &= at[firsts[counts > 0]] == starts[counts > 0]
        if not ok.all():
            per_chunk = np.split(lens, np.cumsum(counts)[:-1])
            orths = np.split(orth, np.cumsum(counts)[:-1])
            for c in np.flatnonzero(~ok).tolist():
                toks = tokens_of(tokenizer, texts[c])
                per_chunk[c] = np.array([len(t.encode("utf-8")) for t in toks], np.int64)
                orths[c] = np.array([_orth(t) for t in toks], np.uint64)
            lens, orth = np.concatenate(per_chunk), np.concatenate(orths)
            counts = np.array([len(t) for t in per_chunk], np.int64)
        return lens, counts, orth

    def scan(self, data: np.ndarray, offsets: np.ndarray):
        """(status, doc_off, word starts, word ends) of the batch. Chunks a round finds
        missing from the memo are learnt (spaCy's tokens, into the memo) and put in place
        among their documents' other words (:func:`.wordkernel.fill_gaps`); the documents
        that met characters not classified yet, or whose chunks could not all be put in
        place, are scanned again once those are learnt; what is still missing after the
        last round leaves its documents to the Python path."""
        todo = np.ones(len(offsets) - 1, np.bool_)
        words = None
        found = []
        for _ in range(MAX_ROUNDS):
            off, ws, we, status, gaps, runs, cands = self._round(data, offsets, todo)
            unknown = todo & (status == wordkernel.UNKNOWN_CHAR)
            for d in np.flatnonzero(unknown).tolist():
                self._learn_chars(data[offsets[d] : offsets[d + 1]])
            if len(gaps):
                t0 = time.process_time()
                self.learn_chunks(data, gaps[:, wordkernel.G_S : wordkernel.G_E + 1])
                COUNTS["spacy_cpu_s"] += time.process_time() - t0
                filling = int((status == wordkernel.MISSING_CHUNK).sum())
                off, ws, we, cands = wordkernel.fill_gaps(
                    data, off, ws, we, status, gaps, runs, tuple(self.memo), self.sets[2],
                    self.sets[3], cands,
                )  # fmt: skip
                COUNTS["filled_docs"] += filling - int((status == wordkernel.MISSING_CHUNK).sum())
            found.append(cands)
            if words is None:
                words = off, ws, we, status
            else:
                words = wordkernel.merge_rounds(todo, *words, off, ws, we, status)
            redo = todo & np.isin(status, _SCAN_AGAIN)
            if not redo.any():
                break
            todo = redo
        off, ws, we, status = words
        self._check(data, offsets, status, np.concatenate(found))
        return status, off, ws, we

    def _learn_chars(self, data: np.ndarray) -> None:
        """Classify the code points of ``data`` not in the table yet (a machine's table holds
        every assigned one: these are unassigned or private-use characters)."""
        unknown = np.empty(1 << 16, np.int64)
        while n_unk := wordkernel.unknown_chars(data, self.chars.table, unknown):
            self.chars.learn(unknown[:n_unk].tolist())

    def _round(self, data: np.ndarray, offsets: np.ndarray, todo: np.ndarray):
        n_docs = len(offsets) - 1
        out_s = np.empty(max(len(data), 1), np.int64)
        out_e = np.empty_like(out_s)
        doc_off = np.zeros(n_docs + 1, np.int64)
        status = np.zeros(n_docs, np.int64)
        n_rows = min(len(data) // 2 + 1, MAX_GAPS)
        gaps = np.empty((n_rows, wordkernel.GAP_COLS), np.int64)
        runs = np.empty((n_rows, wordkernel.RUN_COLS), np.int64)
        cands = np.empty((1 << 14, 2), np.int64)
        n_gaps, n_cand, n_runs = wordkernel.scan_batch(
            data, offsets, todo, self.chars.table, self.sets, self.dash, self.chars.units2,
            self.suffix_width, tuple(self.memo), out_s, out_e, doc_off, status, gaps, runs,
            cands, self._affixes, self._affixes.copy(),
        )  # fmt: skip
        k = doc_off[-1]
        return (doc_off, out_s[:k], out_e[:k], status, gaps[:n_gaps], runs[:n_runs],
                cands[:n_cand])  # fmt: skip

    def _check(self, data: np.ndarray, offsets: np.ndarray, status, cands) -> None:
        """Settle the documents the kernel flagged ``CHECK``: OK unless a special-case
        pattern matches across the space at one of their candidate boundaries."""
        crossing: set[int] = set()
        for d, b in cands.tolist():
            if status[d] == wordkernel.CHECK and d not in crossing:
                if self._crossing_near(data[offsets[d] : offsets[d + 1]], b - offsets[d]):
                    crossing.add(d)
        for d in np.flatnonzero(status == wordkernel.CHECK).tolist():
            status[d] = wordkernel.WHOLE_DOC if d in crossing else wordkernel.OK
            COUNTS["checked_docs"] += 1

    def _crossing_near(self, doc: np.ndarray, b: int) -> bool:
        """Whether a special-case pattern matches across the space before byte ``b`` of the
        document ``doc`` (UTF-8 bytes), on the tokens before spaCy's matcher. Only the
        chunks within a pattern's length of it matter; when those are not all inside the
        slice read around it, the whole document is checked."""
        chunked = self.chunked
        need = max(chunked.patterns, default=1) - 1  # tokens needed on either side
        lo, hi = max(0, b - 1 - NEAR_BYTES), min(len(doc), b + NEAR_BYTES)
        left = _run_near(doc[lo : b - 1].tobytes(), lo == 0, after=False)
        right = _run_near(doc[b:hi].tobytes(), hi == len(doc), after=True)
        if left is None or right is None:
            return chunked._tokens(doc.tobytes().decode("utf-8")) is None
        sides: list[list[tuple[tuple[str, ...], bool]]] = []
        for chunks, complete in (left, right):
            side: list[tuple[tuple[str, ...], bool]] = []
            for c in chunks:
                toks, pre, whole = chunked._chunk(c)
                if whole:
                    return True
                side.append((pre, pre != toks))
                if sum(len(p) for p, _ in side) >= need:
                    break
            else:
                if not complete:
                    return chunked._tokens(doc.tobytes().decode("utf-8")) is None
            sides.append(side)
        ordered = [*reversed(sides[0]), *sides[1]]
        flat = [t for pre, _ in ordered for t in pre]
        changed = [chg for pre, chg in ordered for _ in pre]
        b_at = sum(len(pre) for pre, _ in sides[0])
        return chunked.crossing(flat, changed, 0, b_at, len(flat))


_RUN_FROM = re.compile(r"\S+(?: \S+)*")  # chunks joined by single plain spaces


def _run_near(raw: bytes, whole_slice: bool, after: bool) -> tuple[list[str], bool] | None:
    """The chunks joined by single spaces to a boundary, nearest first: ``raw`` is the
    slice of bytes after it (``after``) or before it. Also whether they reach the far end
    of their run; None when the slice holds no whole chunk next to the boundary."""
    text = raw.decode("utf-8", "ignore")  # a character cut at the far end is dropped ...
    if not after:
        text = text[::-1]  # the run that ends the slice, read from its end (no backtracking)
    m = _RUN_FROM.match(text)
    if m is None:
        return None
    chunks = m.group().split(" ")
    if not after:
        chunks = [c[::-1] for c in chunks]
    if m.end() == len(text) and not whole_slice:
        chunks.pop()  # ... and so is the chunk there: the slice may have cut it
        return (chunks, False) if chunks else None
    return chunks, True


@functools.lru_cache(maxsize=8)
def scanner_for(language: str) -> Scanner | None:
    """The kernels' state for ``language``; None where they do not apply (the stages then
    take their Python path). English only: the plain-chunk grammar is probed against its
    rules; other languages keep datatrove's path."""
    chunked = chunk_words_for(language)
    if language != "en" or chunked is None or not chunked.letters_single:
        return None
    if chunked.tokenizer.token_match is not None or any(len(c) != 1 for c in chunked.punct_chars):
        return None  # the grammar assumes no token_match; the kernels one-character marks
    return Scanner(chunked)


@functools.lru_cache(maxsize=8)
def stop_table(stop_words: frozenset[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hashes, bytes, offsets) of the stop words, sorted by hash (for the kernels)."""
    words = sorted(stop_words, key=lambda w: (int(_hash(w)), w))
    hashes = np.array([_hash(w) for w in words], dtype=np.uint64)
    blob, off = _blob([w.encode("utf-8") for w in words])
    return hashes, blob, off


def _buffers_key(texts: pa.Array | pa.ChunkedArray) -> tuple:
    """Identity of a text column's memory: Arrow buffers are immutable, and the cache below
    holds the column, so equal keys mean equal bytes (no address is reused while cached)."""
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    return tuple(
        (c.offset, len(c), str(c.type), *(b.address if b else 0 for b in c.buffers()))
        for c in chunks
    )


_BREAKS_SPACY = re.compile(re.escape(BREAKS_SPACY.encode()))
_LAST: dict[str, tuple] = {}  # language -> (key, column, words): the previous batch's words


def batch_words(texts: pa.Array | pa.ChunkedArray, language: str) -> BatchWords | None:
    """Words of the batch from the kernels (None: the language has no compiled path). The
    quality stages that run one after the other on the same batch (Ray fuses them into one
    task) split its words once: the last batch's result is kept, keyed by its buffers."""
    scanner = scanner_for(language)
    if scanner is None:
        return None
    key = _buffers_key(texts)
    hit = _LAST.get(language)
    if hit is not None and hit[0] == key:
        return hit[2]
    data, offsets = utf8_buffers(texts)
    status, doc_off, ws, we = scanner.scan(data, offsets)  # CHECK documents settled there
    ok = status == wordkernel.OK
    if len(texts) and _BREAKS_SPACY.search(memoryview(data[offsets[0] : offsets[-1]])):
        ok &= ~np.asarray(pc.fill_null(pc.match_substring(texts, BREAKS_SPACY), False))
    words = BatchWords(data, offsets, ok, doc_off, ws, we, scanner.chars.table)
    _LAST[language] = (key, texts, words)
    COUNTS["docs"] += len(ok)
    COUNTS["fallback_docs"] += int((~ok).sum())
    return words

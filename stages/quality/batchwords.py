"""Words of a whole Arrow batch from the compiled kernels, with the Python path as fallback.

:func:`batch_words` gives, for a batch's text column, the words of every document the kernels
could split (datatrove's words, as byte spans, ids and properties) and the indices of the
documents they could not (``fallback``): those take the stages' Python path, so decisions
never depend on the kernels covering a document. How often that happens is counted in
:data:`FALLBACKS` (documents) next to :data:`DOCS`.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.stages.dedup.kernels import utf8_buffers
from corpusforge.stages.quality import wordids, wordkernel
from corpusforge.stages.quality.charclass import CharTable
from corpusforge.stages.quality.words import ChunkWords, chunk_words_for

MEMO_SLOTS = 1 << 18  # chunk memo table (entries kept under 60% of it)
COUNTS = {"docs": 0, "fallback_docs": 0, "memo_chunks": 0, "spacy_cpu_s": 0.0}


@dataclass
class BatchWords:
    data: np.ndarray  # the batch's UTF-8 bytes
    offsets: np.ndarray  # int64, one more than documents
    ok: np.ndarray  # bool per document: the kernels split it
    doc_off: np.ndarray  # words of document d: [doc_off[d], doc_off[d + 1])
    ws: np.ndarray  # byte span of each word: data[ws[w]:we[w]]
    we: np.ndarray
    ids: np.ndarray  # word id per word (equal ids: equal words)
    cp_len: np.ndarray  # per id: code points
    flags: np.ndarray  # per id: wordids.NON_SYMBOL | HAS_ALPHA | ALL_PUNCT | SENT_PUNCT
    stop: np.ndarray  # per id: stop-word index or -1
    ph: np.ndarray  # per id: polynomial hash of the code points
    pw: np.ndarray  # per id: BASE ** code points
    pwi: np.ndarray  # per id: BASE_INV ** code points
    table: np.ndarray  # the character flags

    @property
    def fallback(self) -> list[int]:
        return np.flatnonzero(~self.ok).tolist()


def _hash(s: str) -> np.uint64:
    b = np.frombuffer(s.encode("utf-8"), dtype=np.uint8)
    return np.uint64(wordkernel.hash_bytes(b, 0, len(b)))


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
        self._reset_memo()

    def _reset_memo(self) -> None:
        n = MEMO_SLOTS
        self.memo = [
            np.zeros(n, np.uint64),
            np.full(n, -1, np.int64),
            np.zeros(n, np.int64),
            np.zeros(n, np.int64),
            np.zeros(n, np.int64),
            np.zeros(n, np.uint8),
            np.zeros(1 << 22, np.uint8),
            np.zeros(1 << 20, np.int64),
        ]
        self.used = np.zeros(3, np.int64)

    def _add(self, key: bytes, toks: list[int], split: int) -> None:
        if self.used[2] > MEMO_SLOTS * 0.6:
            self._reset_memo()
        for slot, need in ((6, len(key)), (7, len(toks))):
            pos = self.used[0 if slot == 6 else 1]
            while pos + need > len(self.memo[slot]):
                self.memo[slot] = np.concatenate([self.memo[slot], np.zeros_like(self.memo[slot])])
        mk_hash, mk_start, mk_len, mt_start, mt_n, m_split, m_arena, m_toks = self.memo
        k = np.frombuffer(key, np.uint8)
        wordkernel.memo_insert(k, np.array(toks, np.int64), split, mk_hash, mk_start, mk_len,
                               mt_start, mt_n, m_split, m_arena, m_toks, self.used)  # fmt: skip
        COUNTS["memo_chunks"] += 1

    def learn_chunks(self, data: np.ndarray, spans: np.ndarray) -> None:
        """spaCy's tokens of each missing chunk into the memo. The chunks go through spaCy
        as one space-joined text (one call, not one per chunk); a chunk whose tokens do not
        tile it there (a phrase match across two chunks) is tokenized alone."""
        keys = sorted({data[s:e].tobytes() for s, e in spans.tolist()})
        texts = [k.decode("utf-8") for k in keys]
        for key, text, toks in zip(keys, texts, self._tokens(texts), strict=True):
            if "IS_ALPHA" not in text and (toks is None or "".join(toks) != text):
                toks = list(self.chunked._chunk(text)[0])
            if "IS_ALPHA" in text or "".join(toks or ()) != text:  # spaCy sees the doc whole
                self._add(key, [len(key)], 2)
                continue
            lens = [len(t.encode("utf-8")) for t in toks]
            self._add(key, lens, int(self.chunked._shows_split(tuple(toks))))

    def _tokens(self, texts: list[str]) -> list[list[str] | None]:
        out: list[list[str] | None] = [[] for _ in texts]
        nlp = self.chunked.nlp
        for lo in range(0, len(texts), 4096):
            part = texts[lo : lo + 4096]
            joined = " ".join(part)
            bounds = np.cumsum([len(t) + 1 for t in part])  # end (+1) of each chunk
            with nlp.memory_zone():
                toks = [(t.idx, t.text) for t in self.chunked.tokenizer(joined)]
            for idx, tok in toks:
                c = int(np.searchsorted(bounds, idx, side="right"))
                if c >= len(part) or out[lo + c] is None:
                    continue
                if idx + len(tok) > bounds[c] - 1:  # crosses into the next chunk
                    out[lo + c] = None
                else:
                    out[lo + c].append(tok)  # type: ignore[union-attr]
        return out

    def scan(self, data: np.ndarray, offsets: np.ndarray):
        """(status, doc_off, word starts, word ends) of the batch. Characters not classified
        yet are learnt first; documents with chunks missing from the memo are scanned again
        once spaCy's tokens of those chunks are in it."""
        unknown = np.empty(1 << 16, np.int64)
        while n_unk := wordkernel.unknown_chars(data, self.chars.table, unknown):
            self.chars.learn(unknown[:n_unk].tolist())
        todo = np.ones(len(offsets) - 1, np.bool_)
        off1, s1, e1, st1, miss = self._round(data, offsets, todo)
        if not len(miss):
            return st1, off1, s1, e1
        t0 = time.process_time()
        self.learn_chunks(data, miss)
        COUNTS["spacy_cpu_s"] += time.process_time() - t0
        redo = st1 == wordkernel.MISSING_CHUNK
        off2, s2, e2, st2, _ = self._round(data, offsets, redo)
        off, ws, we, status = wordkernel.merge_rounds(redo, off1, s1, e1, st1, off2, s2, e2, st2)
        return status, off, ws, we

    def _round(self, data: np.ndarray, offsets: np.ndarray, todo: np.ndarray):
        n_docs = len(offsets) - 1
        out_s = np.empty(max(len(data), 1), np.int64)
        out_e = np.empty_like(out_s)
        doc_off = np.zeros(n_docs + 1, np.int64)
        status = np.zeros(n_docs, np.int64)
        miss = np.empty((min(len(data), 1 << 20) + 1, 2), np.int64)
        n_miss, _ = wordkernel.scan_batch(
            data, offsets, todo, self.chars.table, self.sets, tuple(self.memo), out_s, out_e,
            doc_off, status, miss, np.empty(1, np.int64),
        )  # fmt: skip
        k = doc_off[-1]
        return doc_off, out_s[:k], out_e[:k], status, miss[:n_miss]


@functools.lru_cache(maxsize=8)
def scanner_for(language: str) -> Scanner | None:
    """The kernels' state for ``language``; None where they do not apply (the stages then
    take their Python path). English only: the plain-chunk grammar is probed against its
    rules; other languages keep datatrove's path."""
    chunked = chunk_words_for(language)
    if language != "en" or chunked is None or not chunked.letters_single:
        return None
    return Scanner(chunked)


@functools.lru_cache(maxsize=8)
def _stop_table(stop_words: frozenset[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    words = sorted(stop_words, key=lambda w: (int(_hash(w)), w))
    hashes = np.array([_hash(w) for w in words], dtype=np.uint64)
    blobs = [w.encode("utf-8") for w in words]
    off = np.zeros(len(words) + 1, np.int64)
    off[1:] = np.cumsum([len(b) for b in blobs])
    return hashes, np.frombuffer(b"".join(blobs) or b"\0", np.uint8), off


def _buffers_key(texts: pa.Array | pa.ChunkedArray) -> tuple:
    """Identity of a text column's memory: Arrow buffers are immutable, and the cache below
    holds the column, so equal keys mean equal bytes (no address is reused while cached)."""
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    return tuple(
        (c.offset, len(c), str(c.type), *(b.address if b else 0 for b in c.buffers()))
        for c in chunks
    )


_LAST: dict[str, tuple] = {}  # language -> (key, column, scan): the previous batch's words


def _scan_words(texts: pa.Array | pa.ChunkedArray, language: str, scanner: Scanner) -> tuple:
    """(data, offsets, ok, doc_off, ws, we, ids, first) of the batch. The quality stages that
    run one after the other on the same batch (Ray fuses them into one task) split its words
    once: the last batch's result is kept, keyed by its buffers."""
    key = _buffers_key(texts)
    hit = _LAST.get(language)
    if hit is not None and hit[0] == key:
        return hit[2]
    data, offsets = utf8_buffers(texts)
    status, doc_off, ws, we = scanner.scan(data, offsets)
    ok = status == wordkernel.OK
    if len(texts):
        ok &= ~np.asarray(pc.fill_null(pc.match_substring(texts, "IS_ALPHA"), False))
    ids, first = wordids.intern_words(data, ws, we)
    scan = (data, offsets, ok, doc_off, ws, we, ids, first)
    _LAST[language] = (key, texts, scan)
    return scan


def batch_words(
    texts: pa.Array | pa.ChunkedArray, language: str, stop_words: frozenset[str] = frozenset()
) -> BatchWords | None:
    """Words of the batch from the kernels (None: the language has no compiled path)."""
    scanner = scanner_for(language)
    if scanner is None:
        return None
    data, offsets, ok, doc_off, ws, we, ids, first = _scan_words(texts, language, scanner)
    props = wordids.word_props(data, ws, we, first, scanner.chars.table, *_stop_table(stop_words))
    COUNTS["docs"] += len(ok)
    COUNTS["fallback_docs"] += int((~ok).sum())
    return BatchWords(data, offsets, ok, doc_off, ws, we, ids, *props, table=scanner.chars.table)

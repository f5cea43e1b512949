"""The ``gigatoken`` fast path of the tokenize stage (CPU), with HF ``tokenizers`` as referee.

gigatoken (a Rust wheel on PyPI, no toolchain at install time) encodes byte-level BPE and
SentencePiece-BPE-with-byte-fallback tokenizers from their ``tokenizer.json``, reading the
Arrow string buffer directly (through awkward's zero-copy view) and returning one flat id
buffer plus offsets: no Python object per document or per token.

"Supports exactly" is decided per tokenizer when the stage is set up, not by a list of
names: the tokenizer must load in gigatoken, and its ids must equal HF's on a probe set of
generated text (multilingual scripts, combining marks, emoji, control and private-use
characters, special tokens written in the text, long runs). Anything else (WordPiece,
Unigram, a normalizer gigatoken does not reproduce, a probe mismatch) stays on HF
``tokenizers``; the stage keeps its choice and the reason (``backend``,
``backend_reason``).

Unicode versions: gigatoken's regex tables are newer than those of HF's Oniguruma, so a code
point assigned recently (e.g. CJK extension J) is a letter for one and not for the other and
splits differently. Documents holding any code point that Oniguruma does not class as a
letter, number or space while Python's Unicode database calls it a letter, a number or
unassigned are encoded by HF instead (one compiled scan of the batch finds them; in real text they
are a handful per million documents).

Memory: gigatoken keeps the ids of every distinct pre-token it has encoded, across calls and
without a limit (that cache is most of its speed on a long stream: the first 20 MB of the
standard corpus at ~60 MB/s, the same texts again at ~230). On a stream that keeps bringing new
pre-tokens (numbers, identifiers, many scripts) the cache grows by about ten bytes per byte of
new words and its table doubles in one long pause. The backend therefore adds up how much
resident memory each ``encode_batch`` call left behind and, past the stage's ``cache_mb``, builds
a fresh tokenizer (the old cache is freed and its pages handed back; the ids do not depend on the
cache). A cache that grows into pages the worker had freed but kept costs no resident memory
and is not counted until it needs more.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

import numpy as np
import psutil
import pyarrow as pa
from tokenizers import Tokenizer as HFTokenizer

from corpusforge.pipeline.api import as_array, trim_heap
from corpusforge.stages.dedup.kernels import utf8_buffers
from corpusforge.stages.tokenize.idkernel import flag_rows
from corpusforge.stages.tokenize.unicode_classes import reference_classes


@cache
def version_sensitive_table() -> np.ndarray:
    """Code points (a bool per code point) whose letter/number class may differ between
    engines: not a letter, number or space for Oniguruma, a letter, a number or unassigned for
    Python's Unicode database (surrogates excepted)."""
    covered = np.zeros(0x110000, dtype=bool)
    for cls in reference_classes().values():
        for a, b in cls:
            covered[a : b + 1] = True
    table = np.zeros(0x110000, dtype=bool)
    for cp in np.flatnonzero(~covered).tolist():
        if 0xD800 <= cp < 0xE000:
            continue
        cat = unicodedata.category(chr(cp))
        table[cp] = cat == "Cn" or cat[0] in "LN"
    return table


def probe_texts(special_tokens: list[str]) -> list[str]:
    """Generated texts that exercise pre-tokenization and byte fallback (no third-party text)."""
    scripts = [
        "plain ASCII words, numbers 12345 and 3.14, punctuation!? (brackets) [x] {y}",
        "  leading and trailing spaces   \t tabs \n\n newlines \r\n crlf ",
        "Ünïcödé Latin: café naïve façade œuvre Æsir ß ẞ",
        "Кириллица и греческий: αβγ δεζ",
        "中文字符和日本語のかなカナ、한국어 텍스트",
        "العربية עברית हिन्दी देवनागरी தமிழ் ไทย",
        "combining e\u0301 a\u0308 n\u0303 and ZWJ 👩\u200d💻 emoji 😀🎉 flags 🇫🇷",
        "controls \x00\x01\x7f and private use \ue000\U000f0000 and \ufeff BOM",
        "'s 're 've 'll 'd 'm 't \u2019s contractions don't won't",
        "x" * 3000,
        "ab" * 1500 + " " + "9" * 700,
        "",
    ]
    scripts += [f"before {tok} after{tok}glued" for tok in special_tokens[:8]]
    return scripts


def resident_bytes() -> int:
    return psutil.Process().memory_info().rss


@dataclass
class GigatokenBackend:
    """A gigatoken tokenizer that was checked against the HF tokenizer it replaces."""

    tokenizer: object  # gigatoken.Tokenizer
    hf: HFTokenizer  # encodes the documents gigatoken might split differently
    cache_budget_bytes: int = 0  # 0: never rebuild (the stage sets its ``cache_mb``)
    cache_bytes: int = 0  # resident memory the encode calls added since the last build
    cache_resets: int = 0

    @classmethod
    def try_create(
        cls, hf: HFTokenizer, cache_budget_mb: int = 0
    ) -> tuple[GigatokenBackend | None, str]:
        """(backend, why) when gigatoken reproduces ``hf`` exactly, else (None, why not)."""
        try:
            import gigatoken
        except ImportError:
            return None, "gigatoken is not installed"
        try:
            tok = gigatoken.Tokenizer.from_json(hf.to_str())
        except Exception as exc:  # unsupported model, pre-tokenizer or normalizer
            return None, f"gigatoken cannot load this tokenizer ({type(exc).__name__})"
        backend = cls(tok, hf, cache_budget_mb << 20)
        specials = [t.content for t in hf.get_added_tokens_decoder().values() if t.special]
        texts = probe_texts(specials)
        try:
            ids, offsets = backend.encode(pa.array(texts, type=pa.string()))
        except Exception as exc:
            return None, f"gigatoken failed on the probe texts ({type(exc).__name__})"
        for i, enc in enumerate(hf.encode_batch(texts, add_special_tokens=False)):
            if enc.ids != ids[offsets[i] : offsets[i + 1]].tolist():
                return None, f"gigatoken ids differ from HF on probe text {i}"
        backend.cache_bytes = 0  # the first call's start-up allocations are not the cache's
        return backend, "gigatoken reproduces HF ids on the probe texts"

    def reset_cache(self) -> None:
        """A fresh tokenizer with an empty pre-token cache (the old one is freed with it)."""
        import gigatoken

        self.tokenizer = None  # free the old cache before the new tokenizer is built
        # its pages go back to the system, so the new cache growing into them is counted
        trim_heap()
        self.tokenizer = gigatoken.Tokenizer.from_json(self.hf.to_str())
        self.cache_bytes = 0

    def encode(self, texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
        """Flat int32 ids and int64 offsets of an Arrow string column (null reads as "")."""
        data, offsets = utf8_buffers(texts)  # nulls read as "", no copy of the text
        risky = flag_rows(data, offsets, version_sensitive_table())
        if not risky.any():
            return self._encode_giga(data, offsets)
        return self._encode_mixed(as_array(texts).fill_null(""), risky)

    def _encode_giga(self, data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """gigatoken on UTF-8 bytes and int64 offsets, wrapped without a copy as the awkward
        string array (64-bit offsets) it takes; ``ak.from_arrow`` cost more per batch."""
        import awkward as ak

        chars = ak.contents.NumpyArray(data, parameters={"__array__": "char"})
        strings = ak.contents.ListOffsetArray(
            ak.index.Index64(offsets), chars, parameters={"__array__": "string"}
        )
        # Measured around the call only, so other stages sharing the worker do not count;
        # the call's output is mostly allocated in pages earlier batches freed.
        before = resident_bytes()
        # one worker = one core (the stage asks for num_cpus=1): no thread pool of its own
        out = self.tokenizer.encode_batch(ak.Array(strings), parallel=False)
        self.cache_bytes += resident_bytes() - before
        if self.cache_budget_bytes and self.cache_bytes > self.cache_budget_bytes:
            self.reset_cache()
            self.cache_resets += 1
        layout = out.layout
        offsets = np.asarray(layout.offsets, dtype=np.int64)
        ids = np.asarray(layout.content.data)
        if offsets[0] != 0:
            ids = ids[offsets[0] : offsets[-1]]
            offsets = offsets - offsets[0]
        return ids.view(np.int32) if ids.dtype == np.uint32 else ids.astype(np.int32), offsets

    def _encode_mixed(self, texts: pa.Array, risky: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """gigatoken for the safe rows, HF for the rest, ids put back in row order."""
        safe_rows = np.flatnonzero(~risky)
        risky_rows = np.flatnonzero(risky)
        g_ids, g_off = self._encode_giga(*utf8_buffers(texts.take(pa.array(safe_rows))))
        risky_texts = texts.take(pa.array(risky_rows)).to_pylist()
        encs = self.hf.encode_batch(risky_texts, add_special_tokens=False)
        h_lists = pa.array([e.ids for e in encs], type=pa.large_list(pa.int32()))
        h_ids, h_off = h_lists.values.to_numpy(), h_lists.offsets.to_numpy()
        lens = np.empty(len(texts), dtype=np.int64)
        lens[safe_rows] = np.diff(g_off)
        lens[risky_rows] = np.diff(h_off)
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        ids = np.empty(int(offsets[-1]), dtype=np.int32)
        for rows, src_ids, src_off in ((safe_rows, g_ids, g_off), (risky_rows, h_ids, h_off)):
            dest = np.repeat(offsets[rows] - src_off[:-1], np.diff(src_off))
            ids[dest + np.arange(len(src_ids))] = src_ids
        return ids, offsets

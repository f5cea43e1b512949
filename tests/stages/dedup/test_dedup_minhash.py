"""MinHash signatures, shingling and LSH banding (no Ray)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from corpusforge.stages.dedup.kernels import pair_jaccard, shingle_sets, text_hashes, utf8_buffers
from corpusforge.stages.dedup.minhash import (
    SIGNATURE_COLUMN,
    TEXT_HASH_COLUMN,
    MinHashStage,
    band_keys,
    candidate_probability,
    estimated_jaccard,
    minhash_signatures,
    normalize_text,
    optimal_bands_rows,
    recall_bands_rows,
    shingle_hashes,
    signature_matrix,
)
from tests.dedup_data import DocMaker, jaccard, reference_shingles

NUM_PERM = 112


def test_normalization_folds_case_punctuation_whitespace_unicode():
    out = normalize_text(pa.array(["  Hello,\tWORLD!!  ﬁne—done ", None]), "full").to_pylist()
    assert out == ["hello world fine done", ""]
    assert normalize_text(pa.array([" A  b\n"]), "whitespace").to_pylist() == ["A b"]
    assert normalize_text(pa.array([" A  b\n"]), "lower").to_pylist() == ["a b"]
    with pytest.raises(ValueError):
        normalize_text(pa.array(["x"]), "bogus")


def test_shingles_match_plain_python_reference():
    maker = DocMaker(seed=3, vocab_size=3000)
    base = maker.doc(120)
    texts = [
        " ".join(base),
        " ".join(maker.near_copy(base, 0.6)).upper(),  # case must not matter
        ", ".join(base[:60]) + "!",  # punctuation must not matter
        "one two three",  # fewer words than the n-gram: one shingle
        "",
    ]
    hashes, starts = shingle_hashes(pa.array(texts), 5)
    sets = [set(hashes[starts[i] : starts[i + 1]].tolist()) for i in range(len(texts))]
    ref = [reference_shingles(t) for t in texts]
    for ours, theirs in zip(sets, ref, strict=True):
        assert len(ours) == len(theirs)
    for i in range(3):
        for j in range(3):
            assert jaccard(sets[i], sets[j]) == pytest.approx(jaccard(ref[i], ref[j]))
    assert starts[4] - starts[3] == 1 and starts[5] - starts[4] == 1


def test_signature_estimates_agree_with_datasketch_on_the_same_shingles():
    maker = DocMaker(seed=5, vocab_size=20_000)
    errors_ours, errors_ds = [], []
    for target in np.linspace(0.1, 0.95, 24):
        a = maker.doc(300)
        b = maker.near_copy(a, float(target))
        texts = pa.array([" ".join(a), " ".join(b)])
        hashes, starts = shingle_hashes(texts, 5)
        sa, sb = set(hashes[: starts[1]].tolist()), set(hashes[starts[1] :].tolist())
        true_j = jaccard(sa, sb)
        sig = minhash_signatures(texts, num_perm=NUM_PERM, ngram=5)
        ours = float(estimated_jaccard(sig[:1], sig[1:])[0])
        ds = []
        for shingles in (sa, sb):
            m = MinHash(num_perm=NUM_PERM, seed=1)
            m.update_batch([int(h).to_bytes(8, "little") for h in shingles])
            ds.append(m)
        theirs = ds[0].jaccard(ds[1])
        sigma = math.sqrt(true_j * (1 - true_j) / NUM_PERM)
        assert abs(ours - true_j) <= 4 * sigma + 0.02, (true_j, ours)
        assert abs(theirs - true_j) <= 4 * sigma + 0.02, (true_j, theirs)
        errors_ours.append(abs(ours - true_j))
        errors_ds.append(abs(theirs - true_j))
    # same estimator quality as datasketch's (both are unbiased with the same variance)
    assert np.mean(errors_ours) <= 1.5 * np.mean(errors_ds) + 0.01


def _odd_texts(maker: DocMaker) -> list[str]:
    """Generated multilingual and odd-Unicode documents (no third-party text)."""
    words = maker.doc(400)
    scripts = [
        "Grüße aus Köln straße ÄÖÜ",
        "Ελληνικά κείμενα ΣΊΣΥΦΟΣ",
        "Русский текст ЁЖИК в тумане",
        "中文文本没有空格但是有标点，句号。",  # noqa: RUF001
        "العربية نص مع أرقام ١٢٣",
        "हिन्दी पाठ में मात्राएँ",
        "emoji 😀🎉 and ZWJ 👩‍👩‍👧 family",
        "ﬁne ﬂow ＦＵＬＬＷＩＤＴＨ ½ ℌ 𝐁𝐨𝐥𝐝 Ⅻ",  # noqa: RUF001
        "combining e\u0301 vs é, NBSP\u00a0here\u2003em\u3000ideographic",
        "\u200bzero\u200bwidth\ufeffbom \U0010fffd private \U000e0041 tag",
    ]
    return [
        *[" ".join([s, *words[i * 30 : i * 30 + 30]]) for i, s in enumerate(scripts)],
        "",
        " \t\n ",
        "?!.,;",
        "word",
        " ".join(maker.doc(60_000)),  # a huge document (~400 kB)
    ]


def test_estimates_agree_with_exact_jaccard_on_odd_multilingual_text():
    """Parity: every document's signature equals the one of its own text alone, and estimates
    of edited copies stay within the binomial error of the exact shingle Jaccard."""
    maker = DocMaker(seed=7, vocab_size=5000)
    texts = _odd_texts(maker)
    copies = [" ".join(maker.near_copy(t.split(" "), 0.75)) for t in texts]
    both = pa.array(texts + copies)
    sig = minhash_signatures(both, num_perm=NUM_PERM, ngram=5)
    assert sig.shape == (2 * len(texts), NUM_PERM) and sig.dtype == np.uint32
    for i in (0, 7, 9, 10, len(texts) - 1):  # batch-independent: same value alone
        alone = minhash_signatures(pa.array([texts[i]]), num_perm=NUM_PERM, ngram=5)
        np.testing.assert_array_equal(alone[0], sig[i])
    hashes, starts = shingle_hashes(both, 5)
    sets = [set(hashes[starts[i] : starts[i + 1]].tolist()) for i in range(len(both))]
    n = len(texts)
    for i in range(n):
        true_j = jaccard(sets[i], sets[n + i])
        est = float(estimated_jaccard(sig[i : i + 1], sig[n + i : n + i + 1])[0])
        sigma = math.sqrt(true_j * (1 - true_j) / NUM_PERM)
        assert abs(est - true_j) <= 4 * sigma + 0.02, (i, true_j, est)
    empty = [i for i, t in enumerate(texts) if not normalize_text(pa.array([t])).to_pylist()[0]]
    assert len(empty) == 3  # "", whitespace, punctuation only: all one empty shingle
    assert all((sig[i] == sig[empty[0]]).all() for i in empty)


def test_shingle_sets_and_pair_jaccard_are_exact():
    maker = DocMaker(seed=8, vocab_size=3000)
    texts = _odd_texts(maker)[:12]
    flat, starts = shingle_sets(pa.array(texts), 5)
    lists = [flat[starts[i] : starts[i + 1]] for i in range(len(texts))]
    assert all((np.diff(x.astype(np.float64)) > 0).all() for x in lists)  # sorted, distinct
    col = pa.array([x.tolist() for x in lists], pa.list_(pa.uint64()))
    got = pair_jaccard(col, pa.concat_arrays([col.slice(1), col.slice(0, 1)]))
    ref = [reference_shingles(t) for t in texts]
    for i in range(len(texts)):
        ours = jaccard(set(lists[i].tolist()), set(lists[(i + 1) % len(texts)].tolist()))
        assert got[i] == pytest.approx(ours)
        assert len(lists[i]) == len(ref[i]) or not texts[i].isascii()


def test_text_hashes_normalize_like_normalize_text():
    texts = pa.array(
        ["  Hello,\tWORLD!! ", "hello world", "ＨＥＬＬＯ—world", "hello  worlds", None]  # noqa: RUF001
    )
    h = text_hashes(texts).to_pylist()
    assert h[0] == h[1] == h[2] != h[3] and len(set(h)) == 3 and all(len(x) == 16 for x in h)
    assert h[4] == text_hashes(pa.array([""])).to_pylist()[0]
    raw = text_hashes(texts, "none").to_pylist()
    assert len(set(raw[:4])) == 4
    lower = text_hashes(pa.array(["A  b", "a b", "a, b"]), "lower").to_pylist()
    assert lower[0] == lower[1] != lower[2]


@pytest.mark.parametrize(
    ("threshold", "num_perm", "fp_w", "fn_w"),
    [(0.8, 112, 0.5, 0.5), (0.8, 112, 0.05, 0.95), (0.5, 128, 0.5, 0.5), (0.9, 64, 0.3, 0.7)],
)
def test_optimal_bands_rows_matches_datasketch(threshold, num_perm, fp_w, fn_w):
    assert optimal_bands_rows(threshold, num_perm, fp_w, fn_w) == _optimal_param(
        threshold, num_perm, fp_w, fn_w
    )


def test_classic_banding_is_14_by_8():
    assert optimal_bands_rows(0.8, 112, 0.05, 0.95) == (14, 8)


@pytest.mark.parametrize(("threshold", "expect"), [(0.8, (22, 5)), (0.7, (28, 4)), (0.9, (14, 8))])
def test_recall_banding_catches_pairs_at_the_threshold(threshold, expect):
    bands, rows = recall_bands_rows(threshold, 112)
    assert (bands, rows) == expect
    assert candidate_probability(threshold, bands, rows) >= 0.999
    # and it is the tightest such banding: one more row per band would miss more
    assert candidate_probability(threshold, 112 // (rows + 1), rows + 1) < 0.999


def test_compiled_band_and_signature_keys_equal_their_numpy_definitions():
    from corpusforge.stages.dedup.kernels import band_and_signature_keys
    from corpusforge.stages.dedup.minhash import band_keys, signature_keys

    sig = np.random.default_rng(3).integers(0, 2**32, size=(300, 112)).astype(np.uint32)
    keys, whole = band_and_signature_keys(sig, 28, 4)
    assert np.array_equal(keys, band_keys(sig, 28, 4))
    assert np.array_equal(whole, signature_keys(sig).view(np.uint64))


def test_band_keys_change_only_in_the_band_that_differs():
    rng = np.random.default_rng(0)
    sig = rng.integers(0, 2**32, size=(2, 112), dtype=np.uint32)
    sig[1] = sig[0]
    sig[1, 8 * 3 + 2] ^= np.uint32(1)  # one value inside band 3
    keys = band_keys(sig, 14, 8)
    assert (keys[0] != keys[1]).tolist() == [j == 3 for j in range(14)]
    assert len(set(keys[0].tolist())) == 14  # the band index is part of the key


def test_minhash_stage_adds_signature_and_text_hash():
    maker = DocMaker(seed=9, vocab_size=2000)
    text = " ".join(maker.doc(80))
    batch = pa.table(
        {"id": ["a", "b", "c"], "text": [text, "  " + text.upper() + " ", " ".join(maker.doc(80))]}
    )
    out = MinHashStage()(batch)
    assert out.num_rows == 3 and out["id"].to_pylist() == ["a", "b", "c"]
    sig = signature_matrix(out[SIGNATURE_COLUMN])
    assert sig.shape == (3, 112) and sig.dtype == np.uint32
    assert (sig[0] == sig[1]).all() and (sig[0] == sig[2]).mean() < 0.1
    hashes = out[TEXT_HASH_COLUMN].to_pylist()
    assert hashes[0] == hashes[1] != hashes[2]
    raw = MinHashStage(normalization="none")(batch)[TEXT_HASH_COLUMN].to_pylist()
    assert raw[0] != raw[1]


def test_utf8_buffers_of_a_slice_are_its_own_bytes_without_a_copy() -> None:
    """A batch sliced from a larger column gets only its bytes (kernels size their work by
    the buffer) as a view of the column's memory, offsets from 0."""
    texts = ["alpha", None, "bêta", "", "gamma ray"]
    column = pa.chunked_array([pa.array(texts)])
    for start, size in ((0, 5), (2, 2), (1, 4), (4, 1), (3, 1)):
        data, offsets = utf8_buffers(column.slice(start, size))
        want = [(t or "").encode() for t in texts[start : start + size]]
        assert offsets[0] == 0 and len(data) == offsets[-1] == sum(map(len, want))
        got = [data[a:b].tobytes() for a, b in itertools.pairwise(offsets)]
        assert got == want
    data, _ = utf8_buffers(column.slice(2, 2))
    base = np.frombuffer(column.chunk(0).buffers()[2], np.uint8)
    assert np.shares_memory(data, base)

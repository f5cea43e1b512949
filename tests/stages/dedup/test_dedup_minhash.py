"""MinHash signatures, shingling and LSH banding (no Ray)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from corpusforge.stages.dedup.minhash import (
    SIGNATURE_COLUMN,
    TEXT_HASH_COLUMN,
    MinHashStage,
    band_keys,
    estimated_jaccard,
    minhash_signatures,
    normalize_text,
    optimal_bands_rows,
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


def test_chunked_signatures_equal_unchunked():
    maker = DocMaker(seed=7, vocab_size=5000)
    texts = pa.array([" ".join(maker.doc(int(n))) for n in (3, 50, 400, 1, 90)] + [""])
    whole = minhash_signatures(texts, num_perm=32, ngram=5, max_cells=10**9)
    chunked = minhash_signatures(texts, num_perm=32, ngram=5, block=8, max_cells=8 * 37)
    np.testing.assert_array_equal(whole, chunked)


@pytest.mark.parametrize(
    ("threshold", "num_perm", "fp_w", "fn_w"),
    [(0.8, 112, 0.5, 0.5), (0.8, 112, 0.05, 0.95), (0.5, 128, 0.5, 0.5), (0.9, 64, 0.3, 0.7)],
)
def test_optimal_bands_rows_matches_datasketch(threshold, num_perm, fp_w, fn_w):
    assert optimal_bands_rows(threshold, num_perm, fp_w, fn_w) == _optimal_param(
        threshold, num_perm, fp_w, fn_w
    )


def test_default_banding_is_14_by_8():
    assert optimal_bands_rows(0.8, 112, 0.05, 0.95) == (14, 8)


def test_band_keys_change_only_in_the_band_that_differs():
    rng = np.random.default_rng(0)
    sig = rng.integers(0, 2**63, size=(2, 112), dtype=np.uint64)
    sig[1] = sig[0]
    sig[1, 8 * 3 + 2] += np.uint64(1)  # one value inside band 3
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
    assert sig.shape == (3, 112) and sig.dtype == np.uint64
    assert (sig[0] == sig[1]).all() and (sig[0] == sig[2]).mean() < 0.1
    hashes = out[TEXT_HASH_COLUMN].to_pylist()
    assert hashes[0] == hashes[1] != hashes[2]
    raw = MinHashStage(normalization="none")(batch)[TEXT_HASH_COLUMN].to_pylist()
    assert raw[0] != raw[1]

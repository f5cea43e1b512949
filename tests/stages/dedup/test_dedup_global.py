"""exact_dedup / near_dedup end to end on generated corpora: on the in-driver LocalFrame path
(the default below ``local_max_docs``) and on the distributed Ray path, which must agree."""

from __future__ import annotations

import json
import os
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from corpusforge.pipeline.api import GlobalContext
from corpusforge.pipeline.api.frame import LocalFrame, arrow_join
from corpusforge.pipeline.backends.ray.frame import DocFrame, RayFrameSource
from corpusforge.pipeline.registry import get_stage
from corpusforge.stages.dedup.graph import (
    DOC,
    MARKER,
    PAIR,
    SAME,
    bucket_pairs,
    connected_components,
)
from corpusforge.stages.dedup.minhash import MinHashStage
from corpusforge.stages.dedup.stages import ExactDedup, NearDedup
from tests.dedup_data import DocMaker, docs_table, jaccard, reference_shingles

pytestmark = pytest.mark.usefixtures("ray_session")


class UnionFind:
    """The single-machine reference the distributed components must equal."""

    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> set[frozenset]:
        out = defaultdict(set)
        for x in self.parent:
            out[self.find(x)].add(x)
        return {frozenset(g) for g in out.values() if len(g) > 1}


def _by_id(table: pa.Table) -> dict[str, dict]:
    return {r["id"]: r for r in table.to_pylist()}


@pytest.fixture(scope="module")
def near_corpus():
    """Two input files: pairs at known Jaccard, a chain, random clusters, singletons."""
    maker = DocMaker(seed=11)
    texts: dict[str, str] = {}
    expect_pair: dict[str, bool] = {}
    for i, j in enumerate([0.97, 0.93, 0.9, 0.88, 0.3, 0.2, 0.1]):
        base = maker.doc(250)
        texts[f"p{i}-a"] = " ".join(base)
        texts[f"p{i}-b"] = " ".join(maker.near_copy(base, j))
        expect_pair[f"p{i}"] = j >= 0.85
    # chain: A~B (J~0.86) and B~C (J~0.86) but A vs C only ~0.6 (B in the middle)
    a = maker.doc(300)
    b = a[30:] + maker.words(30)
    c = b[30:] + maker.words(30)
    texts.update({"chain-a": " ".join(a), "chain-b": " ".join(b), "chain-c": " ".join(c)})
    for g in range(25):  # random clusters of 2-6 near-identical members
        base = maker.doc(150)
        for m in range(int(maker.rng.integers(2, 7))):
            texts[f"g{g:02d}-{m}"] = " ".join(maker.near_copy(base, 0.95) if m else base)
    for s in range(300):
        texts[f"s{s:03d}"] = " ".join(maker.doc(int(maker.rng.integers(20, 300))))
    ids = sorted(texts)
    order = np.random.default_rng(1).permutation(len(ids))
    half = len(ids) // 2
    files = [[ids[k] for k in order[:half]], [ids[k] for k in order[half:]]]
    tables = [docs_table([texts[i] for i in f], f, f"file{n}.jsonl") for n, f in enumerate(files)]
    return tables, expect_pair


@pytest.fixture(scope="module")
def near_run(near_corpus, tmp_path_factory):
    tables, _ = near_corpus
    root = tmp_path_factory.mktemp("near")
    ctx = GlobalContext(work_dir=str(root / "work"), output_dir=str(root / "out"))
    stage = NearDedup(write_index=False)  # the index is tested in the incremental test
    out = stage.run(DocFrame.from_tables(tables), ctx).to_arrow()
    return out, stage, ctx


def test_near_dedup_returns_every_row_with_cluster_columns(near_corpus, near_run):
    tables, _ = near_corpus
    out, stage, _ = near_run
    assert sorted(out["id"].to_pylist()) == sorted(pa.concat_tables(tables)["id"].to_pylist())
    assert out["dup_cluster_size"].null_count == 0
    singletons = pc.equal(out["dup_cluster_size"], 1)
    assert pc.all(pc.is_null(pc.filter(out["dup_cluster"], singletons))).as_py()
    assert set(pc.unique(out["_reason"]).to_pylist()) == {None, "near_duplicate"}
    assert stage.last_stats["bands"] == 28 and stage.last_stats["rows"] == 4  # threshold 0.7


def test_pairs_caught_above_threshold_not_below(near_corpus, near_run):
    _, expect_pair = near_corpus
    rows = _by_id(near_run[0])
    for pair, is_dup in expect_pair.items():
        a, b = rows[f"{pair}-a"], rows[f"{pair}-b"]
        if is_dup:
            assert a["dup_cluster"] == b["dup_cluster"] is not None, pair
            # keep "first": the a-copy sorts first only if it comes first in input order
            kept, dropped = (
                (a, b)
                if (a["source_path"], a["source_index"])
                < (
                    b["source_path"],
                    b["source_index"],
                )
                else (b, a)
            )
            assert kept["_reason"] is None
            assert dropped["_reason"] == "near_duplicate" and dropped["_detail"] == kept["id"]
        else:
            assert a["_reason"] is None and b["_reason"] is None, pair
            assert a["dup_cluster"] is None or a["dup_cluster"] != b["dup_cluster"]


def test_chain_clusters_transitively(near_run):
    rows = _by_id(near_run[0])
    chain = [rows[f"chain-{x}"] for x in "abc"]
    assert len({r["dup_cluster"] for r in chain}) == 1 and chain[0]["dup_cluster"]
    assert all(r["dup_cluster_size"] == 3 for r in chain)
    assert sum(r["_reason"] is None for r in chain) == 1


def _exact_clusters(texts: dict[str, str], threshold: float) -> set[frozenset[str]]:
    """Reference: union-find over every pair whose exact shingle Jaccard reaches it."""
    shingles = {i: reference_shingles(t) for i, t in texts.items()}
    holders = defaultdict(set)
    for i, sh in shingles.items():
        for x in sh:
            holders[x].add(i)
    uf = UnionFind()
    for i, sh in shingles.items():
        others = set().union(*(holders[x] for x in sh)) - {i}
        for j in others:
            if j > i and jaccard(sh, shingles[j]) >= threshold:
                uf.union(i, j)
    return uf.groups()


def test_clusters_equal_exact_jaccard_reference(near_corpus, near_run):
    """The clusters are those of true Jaccard >= threshold, found without all-pairs work."""
    tables, _ = near_corpus
    docs = pa.concat_tables(tables)
    texts = dict(zip(docs["id"].to_pylist(), docs["text"].to_pylist(), strict=True))
    clusters = defaultdict(set)
    for r in near_run[0].to_pylist():
        if r["dup_cluster"] is not None:
            clusters[r["dup_cluster"]].add(r["id"])
    expected = _exact_clusters(texts, near_run[1].params.threshold)
    assert {frozenset(c) for c in clusters.values()} == expected
    assert len(expected) >= 25  # the random clusters, the chain and the close pairs
    for cid, members in clusters.items():
        assert cid == min(members)  # cluster id: the smallest member id
    stats = near_run[1].last_stats
    assert stats["checked_on_text"] < stats["candidate_edges"]  # texts only near the threshold


def _planted(maker: DocMaker, levels: list[float], per_level: int) -> tuple[pa.Table, dict]:
    """Pairs planted at true Jaccard just around a threshold, plus unrelated documents."""
    texts, truth = {}, {}
    for level in levels:
        for r in range(per_level):
            base = maker.doc(600)
            copy = maker.near_copy(base, level)
            key = f"j{round(level * 100)}-{r}"
            texts[f"{key}-a"], texts[f"{key}-b"] = " ".join(base), " ".join(copy)
            truth[key] = jaccard(
                reference_shingles(texts[f"{key}-a"]), reference_shingles(texts[f"{key}-b"])
            )
            assert abs(truth[key] - level) < 0.005, (key, truth[key])
    for s in range(40):
        texts[f"s{s:02d}"] = " ".join(maker.doc(300))
    ids = sorted(texts)
    return docs_table([texts[i] for i in ids], ids, "planted.jsonl"), truth


@pytest.mark.parametrize("path", ["local", pytest.param("ray", marks=pytest.mark.slow)])
def test_pairs_around_the_threshold_are_decided_by_true_jaccard(path, tmp_path):
    table, truth = _planted(DocMaker(seed=41), [0.75, 0.79, 0.81, 0.85], 6 if path == "ray" else 12)
    stage = NearDedup(
        threshold=0.8, write_index=False, local_max_docs=10**6 if path == "local" else 0
    )
    ctx = GlobalContext(work_dir=str(tmp_path / "w"), output_dir=str(tmp_path / "o"))
    rows = _by_id(stage.run(DocFrame.from_tables([table]), ctx).to_arrow())
    for key, true_j in truth.items():
        a, b = rows[f"{key}-a"], rows[f"{key}-b"]
        if true_j >= 0.8:
            assert b["_reason"] == "near_duplicate" and b["_detail"] == a["id"], (key, true_j)
        else:
            assert a["_reason"] is None and b["_reason"] is None, (key, true_j)
    assert stage.last_stats["checked_on_text"] > 0  # these are exactly the pairs texts decide


def test_a_giant_identical_bucket_stays_linear(tmp_path):
    """20,000 copies of one boilerplate page: candidate pairs linear in the copies (one per
    copy and band at most, before deduplication), one cluster, one keeper."""
    maker = DocMaker(seed=51)
    page = " ".join(maker.doc(120))
    n = 20_000
    texts = [page] * n + [" ".join(maker.doc(120)) for _ in range(50)]
    ids = [f"c{i:05d}" for i in range(n)] + [f"u{i:02d}" for i in range(50)]
    stage = NearDedup(write_index=False)
    ctx = GlobalContext(work_dir="", output_dir="")
    out = stage.run(LocalFrame(docs_table(texts, ids, "boiler.jsonl")), ctx).to_arrow()
    stats = stage.last_stats
    assert stats["candidate_edges"] == n - 1 and stats["edges"] == n - 1
    assert stats.get("checked_on_text", 0) == 0  # identical signatures need no text
    rows = _by_id(out)
    assert rows["c00000"]["_reason"] is None and rows["c00000"]["dup_cluster_size"] == n
    assert sum(rows[i]["_reason"] == "near_duplicate" for i in ids[:n]) == n - 1
    assert all(rows[i]["_reason"] is None for i in ids[n:])


def _pairs(band_rows: pa.Table) -> pa.Table:
    raw = bucket_pairs(band_rows)
    return raw.filter(pc.not_equal(raw["kind"], MARKER))


def _band_table(k, g, doc, band=0) -> pa.Table:
    k = np.asarray(k, np.uint64)
    return pa.table(
        {
            "k": k,
            "g": np.asarray(g, np.uint64),
            DOC: np.asarray(doc, np.int64),
            "j": np.broadcast_to(np.asarray(band, np.uint8), k.shape),
        }
    )


def test_bucket_pairs_are_linear_in_a_giant_mixed_bucket():
    n = 100_000
    docs = np.arange(n, dtype=np.int64) * 7 + 3
    same = _pairs(_band_table(np.zeros(n), np.zeros(n), docs))
    assert same.num_rows == n - 1 and pc.all(pc.equal(same["other"], 3)).as_py()  # the head
    assert pc.all(pc.equal(same["kind"], SAME)).as_py()
    edges = _pairs(_band_table(np.zeros(n), np.arange(n) % 5000, docs))
    assert edges.num_rows <= n + 8 * 5000  # collapsed copies + a window per distinct signature
    small = _pairs(_band_table([7] * 5, [1, 2, 3, 4, 5], [10, 11, 12, 13, 14]))
    assert small.num_rows == 10  # a small bucket: every pair
    assert pc.all(pc.greater(small["key"], small["other"])).as_py()  # u > v
    lone = _band_table([1, 2, 3], [1, 2, 3], [10, 11, 12])
    assert bucket_pairs(lone).num_rows == 0  # no bucket with two members, nothing to pair


def test_bucket_pairs_mark_the_smaller_ends_still_to_verify():
    raw = bucket_pairs(_band_table([7, 7, 7, 9, 9], [1, 1, 2, 5, 5], [30, 20, 10, 40, 50]))
    rows = sorted(zip(*raw.select(["key", "other", "kind"]).to_pydict().values(), strict=True))
    # 30 and 20 share a signature (one SAME pair), 10 differs from both (a PAIR to verify, its
    # smaller end marked); 40 ~ 50 identical
    assert rows == [(10, 0, MARKER), (20, 10, PAIR), (30, 20, SAME), (50, 40, SAME)]
    # identical signatures share every bucket: their SAME pairs come from band 0 only
    other_band = bucket_pairs(_band_table([7, 7, 7], [1, 1, 2], [30, 20, 10], band=5))
    rows = sorted(
        zip(*other_band.select(["key", "other", "kind"]).to_pydict().values(), strict=True)
    )
    assert rows == [(10, 0, MARKER), (20, 10, PAIR)]


@pytest.mark.parametrize(
    ("backend", "chain"), [("local", 40), pytest.param("ray", 12, marks=pytest.mark.slow)]
)
def test_connected_components_on_long_paths_and_random_edges(backend, chain):
    # the Ray case is smaller: each round is two shuffles of fixed cost, whatever the size
    rng = np.random.default_rng(4)
    nodes = [int(x) for x in rng.permutation(10**6)[:600]]
    edges = set()
    path = rng.permutation(chain)  # a long chain in random id order: diameter chain - 1
    edges.update((nodes[path[i]], nodes[path[i + 1]]) for i in range(chain - 1))
    for _ in range(150 if backend == "local" else 40):
        a, b = rng.integers(40, 400, 2)
        edges.add((nodes[a], nodes[b]))
    canon = sorted({(max(a, b), min(a, b)) for a, b in edges if a != b})
    table = pa.table({"u": [e[0] for e in canon], "v": [e[1] for e in canon]}).cast(
        pa.schema([("u", pa.int64()), ("v", pa.int64())])
    )
    frame = LocalFrame(table) if backend == "local" else DocFrame.from_tables([table])
    stars, rounds = connected_components(frame, num_partitions=2)
    uf = UnionFind()
    for a, b in canon:
        uf.union(a, b)
    got = defaultdict(set)
    for u, v in zip(*stars.to_arrow().select(["u", "v"]).to_pydict().values(), strict=True):
        got[v].update((u, v))
    assert {frozenset(g) for g in got.values()} == uf.groups()
    assert rounds < 20


@pytest.mark.slow  # Ray shuffles: about twenty executions of fixed cost
def test_distributed_path_equals_the_local_one(near_corpus, near_run, tmp_path):
    """The same clusters, keepers and reasons from Ray shuffles as from the driver path."""
    tables, _ = near_corpus
    local, _, _ = near_run
    ctx = GlobalContext(work_dir=str(tmp_path / "w"), output_dir=str(tmp_path / "o"))
    distributed = NearDedup(write_index=False, local_max_docs=0)
    out = distributed.run(DocFrame.from_tables(tables), ctx).to_arrow()
    cols = ["id", "dup_cluster", "dup_cluster_size", "_reason", "_detail"]
    # Ray's join returns large_string ids; the values are what must agree
    rows = out.select(cols).sort_by("id").to_pylist()
    assert rows == local.select(cols).sort_by("id").to_pylist()
    assert distributed.last_stats["edges"] > 0


@pytest.mark.parametrize("path", ["local", pytest.param("ray", marks=pytest.mark.slow)])
def test_ids_sharing_a_document_number_are_renumbered(near_corpus, near_run, tmp_path, path):
    """With 6-bit document numbers nearly every id shares one with another: the shared ones
    are found, renumbered, and the clusters and keepers are those of the full-width run."""
    tables, _ = near_corpus
    local, _, _ = near_run
    stage = NearDedup(write_index=False, local_max_docs=10**6 if path == "local" else 0)
    stage.doc_bits = 6
    ctx = GlobalContext(work_dir=str(tmp_path / "w"), output_dir=str(tmp_path / "o"))
    out = stage.run(DocFrame.from_tables(tables), ctx).to_arrow()
    cols = ["id", "dup_cluster", "dup_cluster_size", "_reason", "_detail"]
    assert (
        out.select(cols).sort_by("id").to_pylist() == local.select(cols).sort_by("id").to_pylist()
    )
    assert stage.last_stats["renumbered_ids"] > 300  # of 400 ids on 64 numbers


def test_arrow_join_carries_list_columns_and_fills_missing_rows():
    left = pa.table({"id": ["a", "b", "c"], "sig": [[1, 2], [3, 4], [5, 6]]})
    right = pa.table({"id": ["c", "a", "z"], "k": [30, 10, 99]})
    outer = arrow_join(left, right, ["id"], "left_outer").sort_by("id").to_pydict()
    assert outer == {"id": ["a", "b", "c"], "sig": [[1, 2], [3, 4], [5, 6]], "k": [10, None, 30]}
    assert arrow_join(left, right, ["id"], "left_anti")["id"].to_pylist() == ["b"]
    assert sorted(arrow_join(left, right, ["id"], "inner")["id"].to_pylist()) == ["a", "c"]
    broadcast = DocFrame.from_tables([left]).join(LocalFrame(right), ["id"], "left_semi")
    assert sorted(broadcast.to_arrow()["id"].to_pylist()) == ["a", "c"]


def test_resumed_run_reuses_signatures(near_corpus, near_run):
    tables, _ = near_corpus
    first, _, ctx = near_run
    again = NearDedup(write_index=False)
    out = again.run(DocFrame.from_tables(tables), ctx).to_arrow()
    assert again.last_stats["signatures_reused"] is True
    cols = ["id", "dup_cluster", "dup_cluster_size", "_reason", "_detail"]
    assert out.select(cols).sort_by("id").equals(first.select(cols).sort_by("id"))


def test_incremental_run_dedups_against_earlier_index(tmp_path):
    maker = DocMaker(seed=21)
    old = [maker.doc(200) for _ in range(30)]
    run1 = docs_table([" ".join(w) for w in old], [f"old{i:02d}" for i in range(30)], "a.jsonl")
    # run 1 gets signatures from the per-batch `minhash` stage (an earlier phase); run 2
    # computes its own: both must agree for the index to be usable
    run1 = MinHashStage()(run1)
    ctx1 = GlobalContext(work_dir=str(tmp_path / "w1"), output_dir=str(tmp_path / "out1"))
    out1 = NearDedup().run(DocFrame.from_tables([run1]), ctx1).to_arrow()
    assert out1["_reason"].null_count == 30
    assert not os.path.exists(tmp_path / "w1" / "signatures")  # the column was used
    index = tmp_path / "out1" / "dedup_index" / "near_dedup"
    assert os.path.exists(index / "signatures") and not os.path.exists(index / "bands")

    new_texts = [" ".join(maker.near_copy(old[i], 0.95)) for i in range(5)]
    new_texts += [" ".join(maker.doc(200)) for _ in range(5)]
    run2 = docs_table(new_texts, [f"new{i:02d}" for i in range(10)], "b.jsonl")
    ctx2 = GlobalContext(
        work_dir=str(tmp_path / "w2"),
        output_dir=str(tmp_path / "out2"),
        frames=RayFrameSource(),
    )
    against = [str(tmp_path / "out1")]
    stage = NearDedup(dedup_against=against)
    rows = _by_id(stage.run(DocFrame.from_tables([run2]), ctx2).to_arrow())
    assert len(rows) == 10  # earlier documents are not returned
    for i in range(5):  # new ids sort after old ones, yet the earlier kept doc wins anyway
        assert rows[f"new{i:02d}"]["_reason"] == "near_duplicate"
        assert rows[f"new{i:02d}"]["_detail"] == f"old{i:02d}"
    for i in range(5, 10):
        assert rows[f"new{i:02d}"]["_reason"] is None
    # a mismatched configuration cannot silently compare incomparable signatures
    with pytest.raises(ValueError, match="not comparable"):
        NearDedup(num_perm=64, dedup_against=against).run(DocFrame.from_tables([run2]), ctx2)
    # nor an index written by an older version (other hashing or layout): a clear error
    meta_path = index / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["version"] = 2  # band rows with string ids, before document numbers
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="has version 2, this corpusforge reads version 3"):
        NearDedup(dedup_against=against).run(DocFrame.from_tables([run2]), ctx2)
    del meta["version"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="has version 1, this corpusforge reads version 3"):
        NearDedup(dedup_against=against).run(DocFrame.from_tables([run2]), ctx2)


@pytest.mark.parametrize(
    "local_max_docs", [1_000_000, pytest.param(0, marks=pytest.mark.slow)], ids=["local", "ray"]
)
def test_exact_dedup_across_files(tmp_path, local_max_docs):
    maker = DocMaker(seed=31)
    base = [" ".join(maker.doc(40)) for _ in range(6)]
    f1 = docs_table(base[:4], ["x0", "x1", "x2", "x3"], "f1.jsonl")
    f2 = docs_table(
        [base[0], "  " + base[1].upper() + "!", base[4], base[5], base[0]],
        ["y0", "y1", "y2", "y3", "y4"],
        "f2.jsonl",
    )
    stage = get_stage("exact_dedup")(local_max_docs=local_max_docs)
    assert isinstance(stage, ExactDedup)
    ctx = GlobalContext(work_dir=str(tmp_path / "w"), output_dir=str(tmp_path / "o"))
    rows = _by_id(stage.run(DocFrame.from_tables([f1, f2]), ctx).to_arrow())
    assert rows["y0"]["_reason"] == rows["y4"]["_reason"] == "exact_duplicate"
    assert rows["y0"]["_detail"] == rows["y4"]["_detail"] == "x0"
    assert rows["y1"]["_reason"] == "exact_duplicate" and rows["y1"]["_detail"] == "x1"
    assert rows["x0"]["dup_cluster_size"] == 3 and rows["x0"]["_reason"] is None
    assert rows["x0"]["dup_cluster"] == rows["y4"]["dup_cluster"]
    kept = [i for i, r in rows.items() if r["_reason"] is None]
    assert sorted(kept) == ["x0", "x1", "x2", "x3", "y2", "y3"]
    assert all(rows[i]["dup_cluster"] is None for i in ["x2", "x3", "y2", "y3"])

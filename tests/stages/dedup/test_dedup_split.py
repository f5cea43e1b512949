"""Keepers over salted pieces of each cluster equal the keepers chosen over whole clusters."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from corpusforge.pipeline.api.frame import LocalFrame
from corpusforge.stages.dedup.graph import DOC
from corpusforge.stages.dedup.keep import RANK_SCHEMA, choose_keepers
from corpusforge.stages.dedup.split import ROUTE, SALT, split_keepers, with_pieces


def _ranked(seed: int) -> tuple[pa.Table, pa.Table]:
    """Members of a giant cluster (40%), small ones and rank rows of every document (the
    singletons too); member rows repeat, as roots do in star edges."""
    rng = np.random.default_rng(seed)
    sizes = [4000, *rng.integers(2, 9, size=300).tolist()]
    n_members = int(sum(sizes))
    n = n_members + 500  # plus singletons: rank rows, no member row
    numbers = rng.permutation(np.unique(rng.integers(0, 2**62, size=2 * n)))[:n]
    cluster_of = np.repeat(np.arange(len(sizes)), sizes)
    # a cluster is named by its smallest number
    roots = np.array([numbers[:n_members][cluster_of == c].min() for c in range(len(sizes))])
    repeat = rng.integers(0, n_members, size=n_members // 3)
    take = np.concatenate([np.arange(n_members), repeat])
    members = pa.table({DOC: numbers[take], "cluster": roots[cluster_of[take]]})
    ranks = pa.table(
        {
            DOC: numbers,
            "id": [f"d{i:07d}" for i in rng.permutation(n)],
            "_rk_prev": rng.integers(0, 2, size=n).astype(np.int8),
            "_rk_score": rng.integers(-3, 1, size=n).astype(np.float64),
            "_rk_path": [f"f{x}" for x in rng.integers(0, 3, size=n)],
            "_rk_index": rng.integers(0, 50, size=n),
        }
    )
    return members, ranks


def _whole(members: pa.Table, ranks: pa.Table) -> list[dict]:
    """The reference: choose_keepers on whole clusters, labelled by their smallest id."""
    t = members.join(ranks, DOC).select(["cluster", *RANK_SCHEMA.names])
    out = choose_keepers(t, "cluster")
    label = {}
    for r in t.to_pylist():
        label[str(r["cluster"])] = min(label.get(str(r["cluster"]), r["id"]), r["id"])
    rows = out.to_pylist()
    for r in rows:
        r["dup_cluster"] = label[r["dup_cluster"]]
    return sorted(rows, key=lambda r: r["id"])


def _rows(t: pa.Table) -> list[dict]:
    return sorted(t.drop_columns([DOC]).to_pylist(), key=lambda r: r["id"])


@pytest.mark.parametrize("pieces", [1, 3, 16])
def test_split_keepers_equal_whole_cluster_keepers(pieces):
    members, ranks = _ranked(seed=pieces)
    whole = _whole(members, ranks)
    split = split_keepers(LocalFrame(members), LocalFrame(ranks), parts=4, pieces=pieces)
    assert _rows(split.to_arrow()) == whole
    assert 4000 in {r["dup_cluster_size"] for r in whole}  # the giant cluster is in the result


def test_a_giant_cluster_is_spread_over_pieces_and_a_member_stays_in_one():
    members, _ = _ranked(seed=7)
    pieced = with_pieces(16)(members)
    biggest = pc.mode(members["cluster"])[0]["mode"]
    giant = pieced.filter(pc.equal(pieced["cluster"], biggest))
    assert len(pc.unique(giant[DOC])) == 4000
    per_piece = giant.group_by(ROUTE).aggregate([(DOC, "count_distinct")])
    assert per_piece.num_rows == 16
    assert max(per_piece[f"{DOC}_count_distinct"].to_pylist()) < 4000 / 8
    one_piece = pieced.group_by(DOC).aggregate([(SALT, "count_distinct")])
    assert set(one_piece[f"{SALT}_count_distinct"].to_pylist()) == {1}


@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
def test_split_keepers_on_ray_equal_whole_cluster_keepers():
    from corpusforge.pipeline.backends.ray.frame import DocFrame

    members, ranks = _ranked(seed=5)

    def blocks(t: pa.Table) -> DocFrame:
        return DocFrame.from_tables([t.slice(i, 1500) for i in range(0, t.num_rows, 1500)])

    split = split_keepers(blocks(members), blocks(ranks), parts=3).to_arrow()
    assert _rows(split) == _whole(members, ranks)

"""Keepers over salted pieces of each cluster equal the keepers chosen over whole clusters."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from corpusforge.pipeline.api.frame import LocalFrame
from corpusforge.stages.dedup.keep import RANK_SCHEMA, choose_keepers
from corpusforge.stages.dedup.split import PIECE, split_keepers, with_pieces


def _ranked(seed: int) -> pa.Table:
    """A giant cluster (40% of members), small ones, singletons; rows repeated as in stars."""
    rng = np.random.default_rng(seed)
    sizes = [4000] + list(rng.integers(2, 9, size=300)) + [1] * 500
    cluster = np.repeat(np.arange(len(sizes)), sizes)
    n = len(cluster)
    ids = [f"d{i:07d}" for i in rng.permutation(n)]
    repeat = rng.integers(0, n, size=n // 3)  # a root appears once per star edge
    take = np.concatenate([np.arange(n), repeat])
    table = pa.table(
        {
            "id": pa.array(ids).take(pa.array(take)),
            "cluster": pa.array([f"c{c:05d}" for c in cluster]).take(pa.array(take)),
            "_rk_prev": pa.array(rng.integers(0, 2, size=n).astype(np.int8)[take]),
            "_rk_score": pa.array(rng.integers(-3, 1, size=n).astype(np.float64)[take]),
            "_rk_path": pa.array([f"f{x}" for x in rng.integers(0, 3, size=n)]).take(
                pa.array(take)
            ),
            "_rk_index": pa.array(rng.integers(0, 50, size=n)[take]),
        }
    )
    return table.select(["cluster", *RANK_SCHEMA.names])


def _rows(t: pa.Table) -> list[dict]:
    return sorted(t.to_pylist(), key=lambda r: r["id"])


@pytest.mark.parametrize("pieces", [1, 3, 16])
def test_split_keepers_equal_whole_cluster_keepers(pieces):
    t = _ranked(seed=pieces)
    whole = choose_keepers(t, "cluster")
    split = split_keepers(LocalFrame(t), "cluster", parts=4, pieces=pieces).to_arrow()
    assert _rows(split) == _rows(whole)
    sizes = {r["dup_cluster_size"] for r in whole.to_pylist()}
    assert 4000 in sizes  # the giant cluster is in the result


def test_a_giant_cluster_is_spread_over_pieces_and_a_member_stays_in_one():
    t = _ranked(seed=7)
    pieced = with_pieces("cluster", 16)(t)
    giant = pieced.filter(pc.equal(pieced["cluster"], "c00000"))
    per_piece = giant.group_by(PIECE).aggregate([("id", "count_distinct")])
    assert per_piece.num_rows == 16
    assert max(per_piece["id_count_distinct"].to_pylist()) < 4000 / 8
    one_piece = pieced.group_by("id").aggregate([(PIECE, "count_distinct")])
    assert set(one_piece[f"{PIECE}_count_distinct"].to_pylist()) == {1}


@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
def test_split_keepers_on_ray_equal_whole_cluster_keepers():
    from corpusforge.pipeline.backends.ray.frame import DocFrame

    t = _ranked(seed=5)
    blocks = [t.slice(i, 1500) for i in range(0, t.num_rows, 1500)]
    split = split_keepers(DocFrame.from_tables(blocks), "cluster", parts=3).to_arrow()
    assert _rows(split) == _rows(choose_keepers(t, "cluster"))

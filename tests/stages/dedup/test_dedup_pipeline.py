"""Deduplication through the engine: its own phases, lineage, outputs, later runs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from corpusforge.pipeline import Pipeline

pytestmark = pytest.mark.usefixtures("ray_session")


def words(n: int, seed: int) -> list[str]:
    """Distinct-looking synthetic words: every 5-gram of a text made of them is unique."""
    rng = random.Random(seed)
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6)) for _ in range(n)]


def write_jsonl(path: Path, texts: list[str]) -> None:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))


def config(inputs: Path, out: Path, dedup_against: list[str] | None = None) -> dict:
    against = {"dedup_against": dedup_against} if dedup_against else {}
    return {
        "input": {"paths": [str(inputs)]},
        "output": {"path": str(out)},
        "stages": [
            "minhash",
            {"exact_dedup": against},
            {"near_dedup": {"threshold": 0.8, **against}},
        ],
        "ray": {"progress": False},
    }


def test_dedup_phases_record_clusters_and_keep_signatures_out_of_outputs(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    base = words(200, seed=1)
    original = " ".join(base)
    near = " ".join([*base[:100], "changed", *base[101:]])  # one word of 200: J ~ 0.95
    write_jsonl(inp / "a.jsonl", [original, " ".join(words(200, seed=2))])
    write_jsonl(inp / "b.jsonl", [original, near])
    out = tmp_path / "out"
    result = Pipeline(config(inp, out)).run()
    assert (result.kept, result.rejected) == (2, 2)
    assert result.rejects_by_reason == {
        "exact_dedup:exact_duplicate": 1,
        "near_dedup:near_duplicate": 1,
    }
    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    rows = con.execute(
        "SELECT reason, phase, dup_cluster IS NOT NULL, dup_cluster_size FROM documents "
        "WHERE reason IS NOT NULL ORDER BY phase"
    ).fetchall()
    con.close()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("exact_duplicate", 1, True),
        ("near_duplicate", 2, True),
    ]
    assert rows[1][3] == 2
    columns = pq.read_schema(next((out / "data").glob("*.parquet"))).names
    assert "minhash" not in columns and "dup_cluster" in columns
    assert (out / "dedup_index" / "near_dedup").exists()

    # a later run on new data deduplicates against what this one kept
    inp2 = tmp_path / "in2"
    inp2.mkdir()
    again = " ".join([*base[:150], "edited", *base[151:]])  # near the kept original
    write_jsonl(inp2 / "c.jsonl", [again, " ".join(words(200, seed=3))])
    later = Pipeline(config(inp2, tmp_path / "out2", dedup_against=[str(out)])).run()
    assert later.rejects_by_reason == {"near_dedup:near_duplicate": 1}
    assert later.kept == 1


def test_two_model_stages_after_a_distributed_shuffle_finish(tmp_path: Path) -> None:
    """On a 2-CPU Ray, a shuffle's aggregator actors plus two model stages on actor pools
    (pii, tokenize) once starved each other forever. Model stages on CPUs are now tasks,
    and a phase with an actor pool (GPU stages) finishes its shuffle first."""
    inp = tmp_path / "in"
    inp.mkdir()
    text = " ".join(words(120, seed=5)) + ". Mail jane.doe@example.com today."
    write_jsonl(inp / "a.jsonl", [text, text, " ".join(words(120, seed=6))])
    cfg = config(inp, tmp_path / "out")
    cfg["stages"] = [
        {"exact_dedup": {"local_max_docs": 0, "write_index": False}},  # Ray's hash shuffles
        {"pii": {"default_policy": "tag"}},
        {"tokenize": {"tokenizer": "gpt2"}},
    ]
    result = Pipeline(cfg).run()
    assert (result.kept, result.rejected) == (2, 1)
    kept = pq.read_table(tmp_path / "out" / "data").to_pylist()
    assert all("jane.doe@example.com" not in r["text"] and r["n_tokens"] > 0 for r in kept)

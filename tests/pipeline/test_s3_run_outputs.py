"""A whole ``corpusforge run`` with ``output.path: s3://...`` against a local S3 server (moto).

Everything the run writes must be in the bucket (kept Parquet, Megatron ``.bin``/``.idx``, the
tokenizer copy, lineage) and nothing in a local ``s3:`` folder; the token shards decode to the
kept texts; ``corpusforge tokens s3://...`` works from any folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import yaml

from corpusforge.stages.sinks.megatron_format import IndexedShard
from corpusforge.stages.tokenize.source import load_tokenizer
from tests.s3_server import s3_in_process, s3_server

BIN = Path(sys.executable).parent


def write_inputs(folder: Path) -> list[str]:
    folder.mkdir()
    texts = [f"record {i} of the s3 run: {'some words ' * (i % 5)}end" for i in range(40)]
    texts[7] = "short"  # rejected by the length filter
    for k in range(2):
        lines = [json.dumps({"id": f"r{k}-{i}", "text": t}) for i, t in enumerate(texts[k::2])]
        (folder / f"part{k}.jsonl").write_text("\n".join(lines) + "\n")
    return texts


def test_run_to_s3_puts_token_shards_in_the_bucket(tmp_path, monkeypatch) -> None:
    texts = write_inputs(tmp_path / "in")
    cfg = {
        "input": {"paths": [str(tmp_path / "in")], "options": {"id_field": "id"}},
        "output": {
            "path": "s3://cf-out/run",
            "drop_columns": ["input_ids"],
            "sinks": [{"kind": "megatron", "path": "tokens", "params": {"tokenizer": "gpt2"}}],
        },
        "stages": [{"length_filter": {"min_chars": 10}}, {"tokenize": {"tokenizer": "gpt2"}}],
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    with s3_server("cf-out") as s3:
        env = {**os.environ, **s3.env, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        env.pop("RAY_ADDRESS", None)
        proc = subprocess.run(
            [str(BIN / "corpusforge"), "run", str(tmp_path / "run.yaml"), "--quiet"],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert not (cwd / "s3:").exists() and sorted(os.listdir(cwd)) == []
        s3.fs.invalidate_cache()
        names = sorted(p.rsplit("/", 1)[-1] for p in s3.fs.ls("cf-out/run/tokens"))
        assert names == ["part-00000.bin", "part-00000.idx", "tokenizer.json"]

        other = tmp_path / "elsewhere"
        other.mkdir()
        listing = subprocess.run(
            [str(BIN / "corpusforge"), "tokens", "s3://cf-out/run"],
            cwd=other, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert listing.returncode == 0, listing.stdout + listing.stderr
        assert "tokens/part-00000.bin" in listing.stdout

        with s3_in_process(s3, monkeypatch):
            kept = pq.read_table(s3.fs.open("cf-out/run/data/part-00000.parquet", "rb"))
            shard = IndexedShard.open("s3://cf-out/run/tokens/part-00000")
            tok = load_tokenizer("gpt2")
            decoded = [tok.decode(shard[i].tolist()) for i in range(len(shard))]
            assert decoded == kept["text"].to_pylist()
            assert sorted(decoded) == sorted(t for t in texts if len(t) >= 10)
            s3.fs.get("cf-out/run/lineage.duckdb", str(tmp_path / "lineage.duckdb"))
    con = duckdb.connect(str(tmp_path / "lineage.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT kind, path, rows, checksum FROM outputs").fetchall()
        status = con.execute("SELECT status FROM runs").fetchall()
    finally:
        con.close()
    assert status == [("ok",)]
    by_path = {p: (k, r, c) for k, p, r, c in rows}
    for name in ("part-00000.bin", "part-00000.idx", "tokenizer.json"):
        kind, _, checksum = by_path[f"s3://cf-out/run/tokens/{name}"]
        assert kind == "megatron" and checksum
    assert by_path["s3://cf-out/run/tokens/part-00000.bin"][1] == len(decoded)

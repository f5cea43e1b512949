"""A small finished run with every kind of output ``forget`` and ``audit`` deal with.

Three JSONL files of generated pages (three sites), one short page per file rejected at phase
0, one exact duplicate rejected by the global dedup phase, tokenized after it into Megatron
and Parquet token shards, one kept shard per input file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

SITES = ("alpha.example", "beta.example", "gamma.example")
EMAIL = "jane.roe@mail.example"


def page_text(site: int, i: int) -> str:
    words = " ".join(f"w{(site * 31 + i * 7 + k) % 97}" for k in range(8 + i % 5))
    return f"Page {i} of site {SITES[site]}: {words}."


def pages() -> list[dict[str, Any]]:
    """Every generated record, in file order (file = site)."""
    rows = []
    for s, site in enumerate(SITES):
        for i in range(8):
            text = page_text(s, i)
            if i == 3:
                text = "tiny"  # rejected by length_filter
            if s == 1 and i == 5:
                text += f" Contact {EMAIL} for details."
            if s == 2 and i == 6:
                text = page_text(0, 1)  # an exact duplicate of alpha's page 1
            sub = "news." if i % 2 else ""
            rows.append({"id": f"{site}-{i}", "url": f"https://{sub}{site}/p/{i}", "text": text})
    return rows


def write_inputs(folder: Path, rows: list[dict[str, Any]] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = rows if rows is not None else pages()
    for site in SITES:
        mine = [r for r in rows if r["id"].startswith(site)]
        if mine:
            lines = "".join(json.dumps(r) + "\n" for r in mine)
            (folder / f"{site.split('.')[0]}.jsonl").write_text(lines, encoding="utf-8")
    return folder


def tokenizer_file(folder: Path) -> str:
    """The GPT-2 tokenizer as a tokenizer.json file (provenance records files by hash)."""
    from corpusforge.stages.tokenize.source import load_tokenizer

    path = folder / "tokenizer.json"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        load_tokenizer("gpt2").save(str(path))
    return str(path)


def config(
    inputs: list[str], out: Path, tokenizer: str = "gpt2", dedup: dict | None = None
) -> dict[str, Any]:
    sinks = [
        {"kind": "megatron", "path": "tokens", "params": {"tokenizer": tokenizer}},
        {"kind": "parquet_tokens", "path": "tokens_pq", "params": {"tokenizer": tokenizer}},
    ]
    return {
        "name": "governance-test",
        "input": {"paths": inputs, "options": {"id_field": "id"}},
        "output": {
            "path": str(out),
            "shard_size_mb": 0.0001,  # one kept shard per fragment
            "drop_columns": ["input_ids"],
            "sinks": sinks,
        },
        "stages": [
            {"length_filter": {"min_chars": 10}},
            {"exact_dedup": dedup or {}},
            {"tokenize": {"tokenizer": tokenizer, "device": "cpu"}},
        ],
        "ray": {"progress": False},
    }


def build_run(root: Path) -> Path:
    from corpusforge.pipeline import Pipeline

    inputs = write_inputs(root / "in")
    out = root / "out"
    Pipeline(config([str(inputs)], out, tokenizer_file(root / "tok"))).run()
    return out


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst

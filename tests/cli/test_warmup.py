"""`corpusforge warmup`: a run on generated documents leaves every compiled kernel cached."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from corpusforge.pipeline.engine.warmup import generated_documents

CONFIG = {
    "name": "warm",
    "input": {"paths": ["unused/"], "format": "jsonl"},
    "output": {"path": "unused-out"},
    "stages": [
        {"langid": {"languages": ["en"], "mode": "fasttext"}},
        {"gopher_quality": {}},
        {"minhash": {}},
        {"exact_dedup": {}},
        {"near_dedup": {}},
    ],
}


def test_generated_documents_are_fixed_and_varied() -> None:
    docs = generated_documents()
    assert docs == generated_documents()  # the same documents every time
    texts = [d["text"] for d in docs]
    assert len(set(texts)) < len(texts)  # exact copies for exact dedup
    assert "" in texts and max(map(len, texts)) > 50_000
    assert any("@example.org" in t for t in texts)


@pytest.mark.slow  # compiles the langid, quality and dedup kernels from nothing (~1-2 min)
def test_warmup_fills_an_empty_kernel_cache(tmp_path: Path) -> None:
    cfg = tmp_path / "warm.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    cache = tmp_path / "numba-cache"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "RAY_USAGE_STATS_ENABLED": "0"}
    exe = Path(sys.executable).parent / "corpusforge"
    proc = subprocess.run(
        [str(exe), "warmup", str(cfg)], env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "warm: 5 stages ran on" in proc.stdout and str(cache) in proc.stdout
    assert "no document reached" not in proc.stderr
    cached = {p.parent.name.split("_")[0] for p in cache.rglob("*.nbi")}
    assert {"classify", "quality", "dedup"} <= cached, sorted(cached)
    assert not (tmp_path / "unused-out").exists()

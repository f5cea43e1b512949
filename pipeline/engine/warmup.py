"""Compile a pipeline's kernels ahead of its first real run: one run on generated documents.

The compiled stages (language ID, quality, MinHash, dedup) are numba kernels, compiled on
their first call and cached on disk: next to the installed modules where that folder is
writable, else in numba's per-user cache (``~/.cache/numba``), or in ``NUMBA_CACHE_DIR``
when it is set. The first run on a machine therefore pays the compile (tens of CPU seconds
in every worker that starts at once); later runs and every new worker load machine code in
about a second. The same holds for the assets built once per machine in the user cache
(:mod:`corpusforge.stages.machine_cache`: the quality kernels' character table, about 5
CPU-s). A warm-up runs the configured stages on a small generated corpus with one worker, so
the real run (or every pod of an image built with it) starts warm. The documents
are ours, generated here: English-like prose (so that filters keep some and every stage
downstream of them sees rows), exact and near copies, other scripts, e-mail addresses.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpusforge.pipeline.config import RunConfig
from corpusforge.schemas import ENGINE_STEPS

# our own vocabulary: common English function words and plain nouns/verbs/adjectives
_FUNCTION = (
    "the a of and to in is was for on that with as it by at from this be are have "
    "has not but or they we he she his her their our which when there can will would"
).split()
_CONTENT = (
    "river garden market school window letter morning village station kitchen teacher "
    "engine harbor council winter summer bridge forest mountain library factory report "
    "walk build carry open write paint repair travel follow answer gather measure "
    "quiet bright early narrow heavy gentle simple careful local public modern ancient"
).split()
_OTHER_SCRIPTS = ("мир", "дом", "река", "日本", "東京", "学校", "ελλάδα", "νερό", "مدينة")


@dataclass(frozen=True)
class WarmupResult:
    seconds: float
    documents: int
    docs_in: dict[str, int]  # stage -> documents it saw (0: nothing of it was compiled)


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_FUNCTION if rng.random() < 0.45 else _CONTENT) for _ in range(14)]
    return " ".join(words).capitalize() + rng.choice([".", ".", "!", "?"])


def _paragraphs(rng: random.Random) -> str:
    return "\n".join(
        " ".join(_sentence(rng) for _ in range(rng.randint(3, 6))) for _ in range(rng.randint(4, 7))
    )


def generated_documents(n: int = 96, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` documents: prose, its exact and near copies, other scripts, an e-mail each
    tenth document, an empty one and a very long one."""
    rng = random.Random(seed)
    docs: list[str] = []
    while len(docs) < n:
        text = _paragraphs(rng)
        if len(docs) % 10 == 0:
            text += f"\nWrite to person{len(docs)}@example.org for the minutes."
        docs.append(text)
        if len(docs) % 12 == 0:
            docs.append(text)  # an exact copy
            docs.append(text.replace(".", ";", 1) + " " + _sentence(rng))  # a near copy
        if len(docs) % 16 == 0:
            docs.append(" ".join(rng.choice(_OTHER_SCRIPTS) for _ in range(80)))
    docs += ["", "\n".join(_paragraphs(rng) for _ in range(40))]
    return [{"id": f"warmup-{i}", "text": t} for i, t in enumerate(docs)]


def warmup_config(cfg: RunConfig, folder: Path) -> RunConfig:
    """``cfg`` reading the generated JSONL in ``folder`` and writing under it, one worker."""
    data = folder / "input.jsonl"
    with data.open("w", encoding="utf-8") as f:
        for doc in generated_documents():
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    source = cfg.input.model_copy(update={"paths": [str(data)], "format": "jsonl", "options": {}})
    output = cfg.output.model_copy(update={"path": str(folder / "out"), "report": False})
    ray = cfg.ray.model_copy(update={"num_cpus": 1, "progress": False})
    return cfg.model_copy(update={"input": source, "output": output, "ray": ray})


def cache_location() -> str:
    """Where numba keeps the compiled kernels, in words."""
    import os

    if os.environ.get("NUMBA_CACHE_DIR"):
        return f"in {os.environ['NUMBA_CACHE_DIR']} (NUMBA_CACHE_DIR)"
    return "next to the installed modules (__pycache__), or in ~/.cache/numba where read-only"


def warm_up(cfg: RunConfig) -> WarmupResult:
    """Run ``cfg``'s stages on generated documents in a temporary folder (deleted after)."""
    from corpusforge.pipeline.engine.runner import Pipeline

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="corpusforge-warmup-") as tmp:
        result = Pipeline(warmup_config(cfg, Path(tmp)), resume=False).run()
    seen = {
        s["stage"]: int(s["docs_in_total"] or s["docs_in"] or 0)
        for s in result.stages
        if s["kind"] not in ENGINE_STEPS  # reading and writing: not stages
    }
    return WarmupResult(time.perf_counter() - start, result.records, seen)

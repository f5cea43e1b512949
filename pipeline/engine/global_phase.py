"""A later phase: one global stage over every live document, then its per-batch stages.

The phase commits as a whole, keyed by a fingerprint of its input fragments and of its
stages' configuration: a re-run with the same input and config reuses the output.
"""

from __future__ import annotations

import json
import logging
import time
from functools import partial
from typing import Any

import xxhash

from corpusforge.pipeline.api import Frame, GlobalContext
from corpusforge.pipeline.api.errors import RunError
from corpusforge.pipeline.engine import journal
from corpusforge.pipeline.engine.execute import StageStats, mark_global_rejects
from corpusforge.pipeline.engine.executor import Executor, PhaseWork
from corpusforge.pipeline.engine.fragments import FragmentCounter, fragment_record
from corpusforge.pipeline.engine.plan import Phase, PlannedStage
from corpusforge.pipeline.io import fsutil

log = logging.getLogger("corpusforge")


def stage_fingerprint(p: PlannedStage) -> dict[str, Any]:
    return {
        "name": p.stage.instance_name,
        "kind": p.stage.name,
        "params": p.stage.params.model_dump(mode="json"),
    }


def phase_fingerprint(phase: Phase, inputs: list[dict]) -> str:
    return xxhash.xxh64_hexdigest(
        json.dumps(
            {
                "inputs": [f["fragment"] for f in inputs],
                "stages": [stage_fingerprint(p) for p in phase.stages],
            },
            sort_keys=True,
        ).encode()
    )


def run_global_phase(
    executor: Executor,
    phase: Phase,
    inputs: list[dict],
    work: PhaseWork,
    work_dir: str,
    out_dir: str,
    stats: dict[str, StageStats],
    resume: bool,
) -> list[dict]:
    """Run ``phase`` over the live rows of ``inputs`` (the previous phase's fragments)."""
    assert phase.global_stage is not None
    fingerprint = phase_fingerprint(phase, inputs)
    done = journal.load_phase_done(work_dir, phase.index)
    if resume and done and done["fingerprint"] == fingerprint:
        log.info("phase %d done earlier; reusing its output", phase.index)
        return done["fragments"]
    fsutil.remove(work.phase_dir, recursive=True)
    fsutil.makedirs(work.phase_dir)
    prev_dir = journal.phase_dir(work_dir, phase.index - 1)
    live_urls = [fsutil.join(prev_dir, f["fragment"]) for f in inputs if f["live"]]
    gstage = phase.global_stage.stage
    frags: list[dict] = []
    if live_urls:
        ctx = GlobalContext(
            work_dir=fsutil.join(work_dir, f"global-{gstage.instance_name}"),
            output_dir=out_dir,
            frames=executor.frames,
        )

        def run_global(docs: Frame) -> Frame:
            gstage.ensure_setup()
            marked = gstage.run(docs, ctx)
            return marked.map_blocks(partial(mark_global_rejects, name=gstage.instance_name))

        start = time.perf_counter()
        counter = FragmentCounter(stats)
        descriptors = executor.global_phase(live_urls, run_global, work)
        frags = [fragment_record(d) for d in counter.each_once(descriptors)]
        stats.setdefault(gstage.instance_name, StageStats()).seconds += time.perf_counter() - start
    live_in = sum(f["live"] for f in inputs)
    rows_out = sum(f["rows"] for f in frags)
    if rows_out != live_in:
        raise RunError(
            f"global stage {gstage.instance_name!r} returned {rows_out} documents for {live_in}",
            hint="a global stage must return every document, marking rejects",
        )
    journal.commit_phase(work_dir, phase.index, fingerprint, frags)
    return sorted(frags, key=lambda d: d["fragment"])

"""The end of a run: output shards and sinks from the last phase, then lineage and checks.

The driver plans shards from fragment descriptors (counts and sizes only); the executor writes
each shard (and its sink shards) as an idempotent task. Lineage is then written from the
journal, the fragments and the shard records, and conservation is checked: every input
record must end kept, rejected or quarantined, or the run fails.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from corpusforge.pipeline.config import RunConfig, config_to_json
from corpusforge.pipeline.engine import journal, outputs, privacy
from corpusforge.pipeline.engine.execute import StageStats, fragment_span
from corpusforge.pipeline.engine.executor import Executor
from corpusforge.pipeline.engine.plan import Phase, PlannedStage
from corpusforge.pipeline.io import fsutil
from corpusforge.pipeline.lineage import store as lineage
from corpusforge.pipeline.lineage.summary import RunResult, summarize
from corpusforge.pipeline.registry import get_sink
from corpusforge.schemas import OUTPUT_STEPS, READ_STEPS

log = logging.getLogger("corpusforge")

INPUTS_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("size", pa.int64()),
        ("checksum", pa.string()),
        ("records", pa.int64()),
        ("kept", pa.int64()),
        ("rejected", pa.int64()),
        ("quarantined", pa.int64()),
        ("status", pa.string()),
        ("run_id", pa.string()),
        ("reader_stats", pa.string()),
    ]
)
OUTPUTS_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("path", pa.string()),
        ("rows", pa.int64()),
        ("bytes", pa.int64()),
        ("checksum", pa.string()),
    ]
)


@dataclass
class FinishedPhases:
    """What the phases of a run left behind, for the outputs and lineage."""

    run_id: str
    started: datetime
    units: list[str]
    commits: dict[str, journal.UnitCommit]
    fragments: list[list[dict]]  # per phase, the committed fragment records
    work_dir: str
    out_dir: str
    units_processed: int

    def urls(self, index: int) -> list[str]:
        pdir = journal.phase_dir(self.work_dir, index)
        return [fsutil.join(pdir, f["fragment"]) for f in self.fragments[index]]


def write_outputs(
    executor: Executor, cfg: RunConfig, planned: list[PlannedStage], done: FinishedPhases
) -> list[dict[str, Any]]:
    """Pack the last phase's kept rows, and every phase's rejects and quarantined rows, into
    shards (plus sink shards); remove shards an earlier run wrote that this one did not."""
    plans = _plan_shards(cfg, done)
    internal = (c for p in planned for c in p.stage.internal_columns)
    drop = (*cfg.output.drop_columns, *internal)
    schemas = {
        cat: outputs.output_schema(
            sorted({u for p in plans if p.category == cat for u in p.fragments}), cat, drop
        )
        for cat in (outputs.KEPT, outputs.REJECTED, outputs.QUARANTINED)
    }
    sinks = [
        (get_sink(sc.kind)(sc.params), fsutil.join(done.out_dir, sc.path or sc.kind))
        for sc in cfg.output.sinks
    ]
    rejected = privacy.rejected_text(cfg.output.rejected_text, [p.stage for p in planned])
    t_write = time.perf_counter()
    calls = [
        (
            p,
            done.out_dir,
            schemas[p.category],
            drop,
            cfg.output.compression,
            sinks if p.category == outputs.KEPT else [],
            rejected if p.category == outputs.REJECTED else None,
        )
        for p in plans
    ]
    records = executor.run_tasks(outputs.write_shard, calls)
    log.info("outputs: %d shards in %.1f s", len(plans), time.perf_counter() - t_write)
    for cat in (outputs.KEPT, outputs.REJECTED, outputs.QUARANTINED):
        outputs.remove_stale(done.out_dir, cat, {p.name for p in plans if p.category == cat})
    kept = {p.name.removesuffix(".parquet") for p in plans if p.category == outputs.KEPT}
    _remove_stale_sink_shards([d for _, d in sinks], kept)
    return records


def _plan_shards(cfg: RunConfig, done: FinishedPhases) -> list[outputs.ShardPlan]:
    target = int(cfg.output.shard_size_mb * 1e6)
    last = len(done.fragments) - 1
    kept = [
        outputs.FragmentRef(u, f["live"], f["live_bytes"], _group(f))
        for u, f in zip(done.urls(last), done.fragments[last], strict=True)
    ]
    rejected: list[outputs.FragmentRef] = []
    for i, frags in enumerate(done.fragments):
        for u, f in zip(done.urls(i), frags, strict=True):
            rejected.append(outputs.FragmentRef(u, f["rejected"], _rejected_weight(f), _group(f)))
    quarantined = [
        outputs.FragmentRef(u, f["quarantined"], f["quarantined"] * 512, _group(f))
        for u, f in zip(done.urls(0), done.fragments[0], strict=True)
    ]
    plans = outputs.plan_shards(outputs.KEPT, kept, target)
    if cfg.output.write_rejected:
        plans += outputs.plan_shards(outputs.REJECTED, rejected, target)
    return plans + outputs.plan_shards(outputs.QUARANTINED, quarantined, target)


def _group(fragment: dict) -> tuple[str, int]:
    return fragment_span(fragment["fragment"])


def _rejected_weight(fragment: dict) -> int:
    """Text bytes of the rejected rows (an estimate from the file size in older journals)."""
    if fragment.get("rejected_bytes") is not None:
        return int(fragment["rejected_bytes"])
    share = fragment["rejected"] / fragment["rows"] if fragment["rows"] else 0
    return int(fragment["bytes"] * share * 4)


def _sink_dirs(cfg: RunConfig, done: FinishedPhases) -> list[tuple[str, str]]:
    return [(sc.kind, fsutil.join(done.out_dir, sc.path or sc.kind)) for sc in cfg.output.sinks]


def _remove_stale_sink_shards(sink_dirs: list[str], keep_stems: set[str]) -> None:
    """Shards of earlier runs that this run did not write again; sinks may keep other files."""
    for sink_dir in sink_dirs:
        for url in fsutil.listdir(sink_dir):
            stem = url.rsplit("/", 1)[-1].split(".")[0]
            if re.fullmatch(r"part-\d+", stem) and stem not in keep_stems:
                fsutil.remove(url)


def write_run_lineage(
    cfg: RunConfig,
    phases: list[Phase],
    done: FinishedPhases,
    records: list[dict[str, Any]],
    stats: dict[str, StageStats],
    seconds: float,
    version: str,
) -> RunResult:
    """Lineage of the run, the conservation check, the report; the run's summary."""
    index_tables = [r["index"] for r in records if r["index"] is not None]
    last = len(done.fragments) - 1
    sets = [lineage.FragmentSet(i, done.urls(i), i == last) for i in range(len(done.fragments))]
    planned = [p for phase in phases for p in phase.stages]
    extra_columns = sorted({c for p in planned for c in p.stage.lineage_columns})
    lineage_dir = lineage.local_lineage_dir(done.out_dir)
    t_lineage = time.perf_counter()
    db = lineage.write_lineage(
        lineage_dir,
        {**_run_row(cfg, done, seconds, version), "provenance": _provenance(cfg, planned)},
        _inputs_table(done),
        _stage_rows(done.run_id, phases, stats),
        pa.Table.from_pylist(outputs.output_rows(records, _sink_dirs(cfg, done)), OUTPUTS_SCHEMA),
        pa.concat_tables(index_tables) if index_tables else None,
        sets,
        extra_columns,
    )
    _sync_takedowns(db, done.out_dir)
    try:
        problems = lineage.check_conservation(db)
        log.info("lineage and checks: %.1f s", time.perf_counter() - t_lineage)
        if problems:
            lineage.set_run_status(db, done.run_id, "failed", "conservation check failed")
            lineage.assert_conservation(db)
        result = summarize(db, done.run_id)
        result.units_total = len(done.units)
        result.report_path = _maybe_report(lineage_dir, cfg)
        if result.report_path:
            lineage.add_output_file(db, "report", result.report_path, done.out_dir)
    finally:
        # remote outputs: the lineage built locally goes up, failed or not
        uploaded = lineage.upload_lineage(lineage_dir, done.out_dir)
    if uploaded:
        result.output = done.out_dir
        result.lineage_path = fsutil.join(done.out_dir, lineage.LINEAGE_FILE)
        if result.report_path:
            result.report_path = fsutil.join(done.out_dir, Path(result.report_path).name)
    return result


def _inputs_table(done: FinishedPhases) -> pa.Table:
    rows = []
    for u in done.units:
        c = done.commits[u]
        rows.append(
            {
                "path": u,
                "size": c.size,
                "checksum": c.checksum,
                "records": c.records,
                # fates over every phase: filled by lineage from the documents table
                "kept": None,
                "rejected": None,
                "quarantined": None,
                "status": "done",
                "run_id": c.run_id,
                "reader_stats": c.reader_stats,
            }
        )
    return pa.Table.from_pylist(rows, schema=INPUTS_SCHEMA)


def _stage_rows(
    run_id: str, phases: list[Phase], stats: dict[str, StageStats]
) -> list[dict[str, Any]]:
    rows = []
    # reading (and a WARC reader's HTML extraction) first: kind = stage = "read" / "extract";
    # what the tasks of every phase do after the stages last, with no phase (all of them)
    steps: list[tuple[str, str, int | None]] = [(n, n, 0) for n in READ_STEPS if n in stats]
    steps += [(p.stage.instance_name, p.stage.name, ph.index) for ph in phases for p in ph.stages]
    steps += [(name, name, None) for name in OUTPUT_STEPS if name in stats]
    for name, kind, phase_index in steps:
        s = stats.get(name, StageStats())
        rows.append(
            {
                "run_id": run_id,
                "position": len(rows),
                "stage": name,
                "kind": kind,
                "phase": phase_index,
                "docs_in": s.docs_in,
                "docs_out": s.docs_out,
                "docs_rejected": sum(s.rejects.values()),
                "bytes_in": s.bytes_in,
                "bytes_out": s.bytes_out,
                "seconds": s.seconds,
                "rejects": s.rejects,
                "docs_in_total": None,
                "docs_rejected_total": None,
                # per worker-second: seconds are summed over the workers (one per GPU)
                "mb_per_s": s.bytes_in / 1e6 / s.seconds if s.seconds > 0 else None,
                "metrics": s.metric_values() or None,
            }
        )
    return rows


def start_row(
    cfg: RunConfig,
    run_id: str,
    started: datetime,
    version: str,
    planned: list[PlannedStage],
) -> dict:
    """The ``runs`` row written when a run starts (status ``running``), with its provenance,
    so that a run killed half-way still says which models and versions it used."""
    return {
        "run_id": run_id,
        "name": cfg.name,
        "started_at": started.replace(tzinfo=None),
        "config": config_to_json(cfg),
        "version": version,
        "provenance": _provenance(cfg, planned),
    }


def _run_row(cfg: RunConfig, done: FinishedPhases, seconds: float, version: str) -> dict:
    return {
        "run_id": done.run_id,
        "name": cfg.name,
        "started_at": done.started.replace(tzinfo=None),
        "finished_at": datetime.now(UTC).replace(tzinfo=None),
        "status": "ok",
        "error": None,
        "config": config_to_json(cfg),
        "version": version,
        "seconds": seconds,
        "units_processed": done.units_processed,
        "units_skipped": len(done.units) - done.units_processed,
    }


def _provenance(cfg: RunConfig, planned: list[PlannedStage]) -> str:
    from corpusforge.pipeline.governance.provenance import run_provenance

    return run_provenance(planned, cfg.output.sinks)


def _sync_takedowns(db: str, out_dir: str) -> None:
    """Lineage mirrors ``OUT/takedowns`` (rebuilt lineage, e.g. ``--no-resume``, too)."""
    from corpusforge.pipeline.governance import takedowns

    if fsutil.exists(takedowns.folder(out_dir)):
        takedowns.sync_lineage_file(db, out_dir)


def _maybe_report(out_dir: str, cfg: RunConfig) -> str | None:
    if not cfg.output.report:
        return None
    from corpusforge.pipeline.report import write_report

    return write_report(out_dir)

"""The runner: config -> phases on Ray Data -> committed fragments -> outputs and lineage.

Phase 0 reads the input files (units of work) and applies the per-batch stages before the
first global stage; every unit commits as soon as all its records are in fragments. Each
later phase starts with a global stage over all live documents, then its per-batch stages,
and commits as a whole. Finally the outputs are packed into shards and lineage is written;
the run fails if any input record did not end kept, rejected or quarantined.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from pydantic import ValidationError

from corpusforge.pipeline.api import GlobalContext, Stage, rejected_mask, set_column
from corpusforge.pipeline.api.errors import ConfigError, RunError
from corpusforge.pipeline.api.reader import ReaderParams
from corpusforge.pipeline.backends.ray import executor as ray_backend
from corpusforge.pipeline.backends.ray.frame import DocFrame, RayFrameSource
from corpusforge.pipeline.config import RunConfig, config_to_json, load_config, parse_config
from corpusforge.pipeline.engine import journal, outputs
from corpusforge.pipeline.engine.execute import (
    N_BYTES,
    N_CHARS,
    TEXT_HASH,
    StageStats,
    merge_stats,
    read_live_fragments,
    read_units,
    write_fragments,
)
from corpusforge.pipeline.engine.plan import Phase, PlannedStage, build_stages, split_phases
from corpusforge.pipeline.io import fsutil
from corpusforge.pipeline.lineage import store as lineage
from corpusforge.pipeline.lineage.summary import RunResult, summarize
from corpusforge.pipeline.registry import detect_format, get_reader, get_sink, load_plugins
from corpusforge.schemas import FATE_REJECTED, Col

log = logging.getLogger("corpusforge")

VERSION = "0.1.0"


class Pipeline:
    """Run a pipeline from a config (a YAML path, a dict or a RunConfig).

    >>> Pipeline("examples/quickstart.yaml", output="out/quick").run()

    Stages may also be given as instances (custom stages from the Python API); they are
    appended after the configured ones.
    """

    def __init__(
        self,
        config: RunConfig | dict[str, Any] | str | Path,
        *,
        inputs: list[str] | None = None,
        output: str | None = None,
        ray_address: str | None = None,
        resume: bool = True,
        extra_stages: list[Stage] | None = None,
    ) -> None:
        if isinstance(config, RunConfig):
            cfg = config
        elif isinstance(config, dict):
            cfg = parse_config(config)
        else:
            cfg = load_config(config)
        updates: dict[str, Any] = {}
        if inputs:
            updates["input"] = cfg.input.model_copy(update={"paths": list(inputs)})
        if output:
            updates["output"] = cfg.output.model_copy(update={"path": output})
        if ray_address:
            updates["ray"] = cfg.ray.model_copy(update={"address": ray_address})
        self.config = cfg.model_copy(update=updates) if updates else cfg
        self.resume = resume
        load_plugins()
        self.planned = build_stages(self.config)
        for st in extra_stages or []:
            from corpusforge.pipeline.engine.plan import resources_for

            self.planned.append(PlannedStage(st, resources_for(st)))
        self.phases = split_phases(self.planned)
        self._check_reader()

    def _check_reader(self) -> None:
        fmt = self.config.input.format
        params_model = ReaderParams if fmt == "auto" else get_reader(fmt).Params
        try:
            params_model.model_validate(self.config.input.options)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"input.options.{loc}: {err['msg']}") from None

    # ------------------------------------------------------------------ public entry
    def run(self) -> RunResult:
        cfg = self.config
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        run_id = f"{started.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        out_dir = cfg.output.path
        if not fsutil.is_remote(out_dir):
            out_dir = fsutil.get_fs(out_dir)[1]
        work_dir = fsutil.join(out_dir, "_work")
        accepted = _reader_endings() if cfg.input.format == "auto" else None
        units = fsutil.expand_inputs(cfg.input.paths, accepted)
        if not units:
            raise ConfigError("input.paths matched no files")
        accepted = None if cfg.input.format != "auto" else accepted
        if not self.resume:
            for sub in ("_work", "data", "rejected", "quarantine", *self._sink_dirs()):
                fsutil.remove(fsutil.join(out_dir, sub), recursive=True)
            fsutil.remove(fsutil.join(out_dir, lineage.LINEAGE_FILE))
        fsutil.makedirs(work_dir)

        started_ray = ray_backend.ensure_ray(cfg)
        stats: dict[str, StageStats] = {}  # this run's work, from the fragment descriptors
        try:
            commits = journal.load_unit_commits(work_dir)
            commits = {p: c for p, c in commits.items() if p in set(units)}
            journal.remove_orphan_fragments(work_dir, commits)
            todo = [u for u in units if u not in commits]
            log.info(
                "%d input files: %d to process, %d done earlier",
                len(units),
                len(todo),
                len(commits),
            )
            if todo:
                t_phase = time.perf_counter()
                commits.update(self._run_phase0(todo, work_dir, run_id, stats))
                log.info(
                    "phase 0 (read%s): %d files in %.1f s",
                    "".join(f", {p.stage.instance_name}" for p in self.phases[0].map_stages),
                    len(todo),
                    time.perf_counter() - t_phase,
                )
            phase_fragments = [
                sorted(
                    (f for c in commits.values() for f in c.fragments),
                    key=lambda d: d["fragment"],
                )
            ]
            for phase in self.phases[1:]:
                t_phase = time.perf_counter()
                frags = self._run_global_phase(
                    phase, phase_fragments[-1], work_dir, out_dir, run_id, stats
                )
                phase_fragments.append(frags)
                log.info(
                    "phase %d (%s): %d documents in %.1f s",
                    phase.index,
                    ", ".join(p.stage.instance_name for p in self._phase_stages(phase)),
                    sum(f["rows"] for f in frags),
                    time.perf_counter() - t_phase,
                )
            result = self._finalize(
                run_id,
                started,
                t0,
                units,
                commits,
                phase_fragments,
                work_dir,
                out_dir,
                stats,
                units_processed=len(todo),
            )
        finally:
            if started_ray:
                import ray

                ray.shutdown()
        return result

    def _sink_dirs(self) -> list[str]:
        return [s.path or s.kind for s in self.config.output.sinks]

    # ------------------------------------------------------------------ phase 0
    def _run_phase0(
        self, todo: list[str], work_dir: str, run_id: str, stats: dict[str, StageStats]
    ) -> dict[str, journal.UnitCommit]:
        import ray.data

        cfg = self.config
        pdir = journal.phase_dir(work_dir, 0)
        fsutil.makedirs(pdir)
        formats = {u: self._format_of(u) for u in todo}
        readers = {fmt: get_reader(fmt) for fmt in set(formats.values())}
        for cls in readers.values():
            ray_backend.travel_by_value(cls)
        ds = ray.data.from_items(
            [{"path": u, "format": formats[u]} for u in todo], override_num_blocks=len(todo)
        )
        ds = ds.map_batches(
            read_units,
            batch_size=1,
            batch_format="pyarrow",
            fn_kwargs={
                "readers": readers,
                "reader_params": cfg.input.options,
                "plugins": cfg.plugins,
            },
        )
        for planned in self.phases[0].map_stages:
            ds = ray_backend.add_stage(ds, planned, cfg.plugins, run_id)
        ds = ds.map_batches(
            write_fragments,
            batch_size=None,
            batch_format="pyarrow",
            fn_kwargs={"phase_dir": pdir, "compression": cfg.output.compression},
        )
        pending: dict[str, dict[str, Any]] = {u: {"fragments": [], "rows": 0} for u in todo}
        commits: dict[str, journal.UnitCommit] = {}

        def try_commit(unit: str) -> None:
            st = pending[unit]
            if st.get("total") is None or st["rows"] != st["total"] or unit in commits:
                return
            commit = journal.UnitCommit(
                path=unit,
                key=fsutil.unit_key(unit),
                records=st["total"],
                checksum=st["checksum"],
                size=st["size"],
                fragments=st["fragments"],
                live=sum(f["live"] for f in st["fragments"]),
                rejected=sum(f["rejected"] for f in st["fragments"]),
                quarantined=sum(f["quarantined"] for f in st["fragments"]),
                live_bytes=sum(f["live_bytes"] for f in st["fragments"]),
                run_id=run_id,
                reader_stats=st.get("stats"),
            )
            journal.commit_unit(work_dir, commit)
            commits[unit] = commit

        for d in _descriptors(ds, stats):
            st = pending[d["unit"]]
            st["fragments"].append(_fragment_record(d))
            st["rows"] += d["rows"]
            if d["unit_total"] is not None:
                st.update(
                    total=d["unit_total"],
                    checksum=d["unit_checksum"],
                    size=d["unit_size"],
                    stats=d["unit_stats"],
                )
            try_commit(d["unit"])
        # units that produced no rows at all (empty files) complete with the phase
        for unit in todo:
            st = pending[unit]
            if unit in commits:
                continue
            if st["rows"] == 0:
                checksum, size = fsutil.file_checksum(unit)
                st.update(total=0, checksum=checksum, size=size)
                try_commit(unit)
            else:
                raise RunError(
                    f"{unit}: {st['rows']} rows written but the reader reported "
                    f"{st.get('total')} records",
                    hint="a stage duplicated or lost rows",
                )
        return commits

    # ------------------------------------------------------------------ global phases
    def _run_global_phase(
        self,
        phase: Phase,
        inputs: list[dict],
        work_dir: str,
        out_dir: str,
        run_id: str,
        stats: dict[str, StageStats],
    ) -> list[dict]:
        import ray.data

        cfg = self.config
        prev_dir = journal.phase_dir(work_dir, phase.index - 1)
        pdir = journal.phase_dir(work_dir, phase.index)
        fingerprint = xxhash.xxh64_hexdigest(
            json.dumps(
                {
                    "inputs": [f["fragment"] for f in inputs],
                    "stages": [_stage_fingerprint(p) for p in self._phase_stages(phase)],
                    "dedup_against": cfg.dedup_against,
                },
                sort_keys=True,
            ).encode()
        )
        done = journal.load_phase_done(work_dir, phase.index)
        if self.resume and done and done["fingerprint"] == fingerprint:
            log.info("phase %d done earlier; reusing its output", phase.index)
            return done["fragments"]
        fsutil.remove(pdir, recursive=True)
        fsutil.makedirs(pdir)
        live_in = sum(f["live"] for f in inputs)
        live_urls = [fsutil.join(prev_dir, f["fragment"]) for f in inputs if f["live"]]
        assert phase.global_stage is not None
        gstage = phase.global_stage.stage
        if live_urls:
            schema = _live_schema(live_urls)
            ds = ray.data.from_items(
                [{"path": u} for u in live_urls], override_num_blocks=min(len(live_urls), 256)
            ).map_batches(
                read_live_fragments,
                batch_size=1,
                batch_format="pyarrow",
                fn_kwargs={"schema": schema},
            )
            ctx = GlobalContext(
                work_dir=fsutil.join(work_dir, f"global-{gstage.instance_name}"),
                output_dir=out_dir,
                previous_outputs=tuple(cfg.dedup_against),
                frames=RayFrameSource(),
            )
            start = time.perf_counter()
            gstage.ensure_setup()
            frame = gstage.run(DocFrame(ds), ctx)
            ds = frame.dataset.map_batches(
                _mark_global_rejects,
                batch_size=None,
                batch_format="pyarrow",
                fn_kwargs={"name": gstage.instance_name},
            )
            if any(ray_backend.uses_actor_pool(p) for p in phase.map_stages):
                # A shuffle's aggregator actors live as long as its consumers run; actor-pool
                # stages downstream then wait forever for CPUs on a small cluster. Finishing
                # the global stage first frees them (the object store spills what is large).
                ds = ds.materialize()
            for planned in phase.map_stages:
                ds = ray_backend.add_stage(ds, planned, cfg.plugins, run_id)
            ds = ds.map_batches(
                write_fragments,
                batch_size=None,
                batch_format="pyarrow",
                fn_kwargs={"phase_dir": pdir, "compression": cfg.output.compression},
            )
            frags = [_fragment_record(d) for d in _descriptors(ds, stats)]
            seconds = time.perf_counter() - start
            stats.setdefault(gstage.instance_name, StageStats()).seconds += seconds
        else:
            frags = []
        rows_out = sum(f["rows"] for f in frags)
        if rows_out != live_in:
            raise RunError(
                f"global stage {gstage.instance_name!r} returned {rows_out} documents for "
                f"{live_in}",
                hint="a global stage must return every document, marking rejects",
            )
        journal.commit_phase(work_dir, phase.index, fingerprint, frags)
        return sorted(frags, key=lambda d: d["fragment"])

    def _format_of(self, path: str) -> str:
        fmt = self.config.input.format
        return detect_format(path) if fmt == "auto" else fmt

    def _phase_stages(self, phase: Phase) -> list[PlannedStage]:
        head = [phase.global_stage] if phase.global_stage else []
        return head + phase.map_stages

    # ------------------------------------------------------------------ finalize
    def _finalize(
        self,
        run_id: str,
        started: datetime,
        t0: float,
        units: list[str],
        commits: dict[str, journal.UnitCommit],
        phase_fragments: list[list[dict]],
        work_dir: str,
        out_dir: str,
        stats: dict[str, StageStats],
        units_processed: int,
    ) -> RunResult:
        import ray

        cfg = self.config
        target = int(cfg.output.shard_size_mb * 1e6)
        last = len(phase_fragments) - 1

        def urls(index: int, frags: list[dict]) -> list[str]:
            return [fsutil.join(journal.phase_dir(work_dir, index), f["fragment"]) for f in frags]

        kept_refs = [
            outputs.FragmentRef(u, f["live"], f["live_bytes"])
            for u, f in zip(urls(last, phase_fragments[last]), phase_fragments[last], strict=True)
        ]
        rejected_refs: list[outputs.FragmentRef] = []
        for i, frags in enumerate(phase_fragments):
            for u, f in zip(urls(i, frags), frags, strict=True):
                share = f["rejected"] / f["rows"] if f["rows"] else 0
                rejected_refs.append(
                    outputs.FragmentRef(u, f["rejected"], int(f["bytes"] * share * 4))
                )
        quarantine_refs = [
            outputs.FragmentRef(u, f["quarantined"], f["quarantined"] * 512)
            for u, f in zip(urls(0, phase_fragments[0]), phase_fragments[0], strict=True)
        ]
        plans = outputs.plan_shards(outputs.KEPT, kept_refs, target)
        if cfg.output.write_rejected:
            plans += outputs.plan_shards(outputs.REJECTED, rejected_refs, target)
        plans += outputs.plan_shards(outputs.QUARANTINED, quarantine_refs, target)
        internal = (c for p in self.planned for c in p.stage.internal_columns)
        drop = (*cfg.output.drop_columns, *internal)
        schemas = {
            cat: outputs.output_schema(
                sorted({u for p in plans if p.category == cat for u in p.fragments}), cat, drop
            )
            for cat in (outputs.KEPT, outputs.REJECTED, outputs.QUARANTINED)
        }
        sinks = []
        for sc in cfg.output.sinks:
            sink = get_sink(sc.kind)(sc.params)
            sinks.append((sink, fsutil.join(out_dir, sc.path or sc.kind)))
        # a shard task lost with its worker is rerun; it rewrites the same file
        write = ray.remote(num_cpus=1, max_retries=5)(outputs.write_shard)
        refs = [
            write.remote(
                p,
                out_dir,
                schemas[p.category],
                drop,
                cfg.output.compression,
                sinks if p.category == outputs.KEPT else [],
            )
            for p in plans
        ]
        t_write = time.perf_counter()
        try:
            records = ray.get(refs)
        except Exception as exc:
            raise ray_backend.run_error(exc) from exc
        log.info("outputs: %d shards in %.1f s", len(plans), time.perf_counter() - t_write)
        for cat in (outputs.KEPT, outputs.REJECTED, outputs.QUARANTINED):
            outputs.remove_stale(out_dir, cat, {p.name for p in plans if p.category == cat})
        keep_stems = {p.name.removesuffix(".parquet") for p in plans if p.category == outputs.KEPT}
        for _, sink_dir in sinks:
            for url in fsutil.listdir(sink_dir):
                stem = url.rsplit("/", 1)[-1].split(".")[0]
                # only shards this run did not write again; sinks may keep other files
                if re.fullmatch(r"part-\d+", stem) and stem not in keep_stems:
                    fsutil.remove(url)

        # ---- lineage
        inputs_table = pa.Table.from_pylist(
            [
                {
                    "path": u,
                    "size": commits[u].size,
                    "checksum": commits[u].checksum,
                    "records": commits[u].records,
                    # fates over every phase: filled by lineage from the documents table
                    "kept": None,
                    "rejected": None,
                    "quarantined": None,
                    "status": "done",
                    "run_id": commits[u].run_id,
                    "reader_stats": commits[u].reader_stats,
                }
                for u in units
            ],
            schema=pa.schema(
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
            ),
        )
        outputs_table = pa.Table.from_pylist(
            [
                {
                    "kind": r["kind"],
                    "path": r["path"],
                    "rows": r["rows"],
                    "bytes": r["bytes"],
                    "checksum": r["checksum"],
                }
                for r in records
            ],
            schema=pa.schema(
                [
                    ("kind", pa.string()),
                    ("path", pa.string()),
                    ("rows", pa.int64()),
                    ("bytes", pa.int64()),
                    ("checksum", pa.string()),
                ]
            ),
        )
        index_tables = [r["index"] for r in records if r["index"] is not None]
        doc_outputs = pa.concat_tables(index_tables) if index_tables else None
        sets = [
            lineage.FragmentSet(i, urls(i, frags), i == last)
            for i, frags in enumerate(phase_fragments)
        ]
        extra_columns = sorted({c for p in self.planned for c in p.stage.lineage_columns})
        stage_rows = []
        position = 0
        for phase in self.phases:
            for planned in self._phase_stages(phase):
                name = planned.stage.instance_name
                s = stats.get(name, StageStats())
                stage_rows.append(
                    {
                        "run_id": run_id,
                        "position": position,
                        "stage": name,
                        "kind": planned.stage.name,
                        "phase": phase.index,
                        "docs_in": s.docs_in,
                        "docs_out": s.docs_out,
                        "docs_rejected": sum(s.rejects.values()),
                        "bytes_in": s.bytes_in,
                        "bytes_out": s.bytes_out,
                        "seconds": s.seconds,
                        "rejects": s.rejects,
                        "docs_in_total": None,
                        "docs_rejected_total": None,
                    }
                )
                position += 1
        seconds = time.perf_counter() - t0
        run_row = {
            "run_id": run_id,
            "name": cfg.name,
            "started_at": started.replace(tzinfo=None),
            "finished_at": datetime.now(UTC).replace(tzinfo=None),
            "status": "ok",
            "error": None,
            "config": config_to_json(cfg),
            "version": VERSION,
            "seconds": seconds,
            "units_processed": units_processed,
            "units_skipped": len(units) - units_processed,
        }
        lineage_dir = lineage.local_lineage_dir(out_dir)
        t_lineage = time.perf_counter()
        db = lineage.write_lineage(
            lineage_dir,
            run_row,
            inputs_table,
            stage_rows,
            outputs_table,
            doc_outputs,
            sets,
            extra_columns,
        )
        try:
            problems = lineage.check_conservation(db)
            log.info("lineage and checks: %.1f s", time.perf_counter() - t_lineage)
            if problems:
                lineage.set_run_status(db, run_id, "failed", "conservation check failed")
                lineage.assert_conservation(db)
            result = summarize(db, run_id)
            result.units_total = len(units)
            result.report_path = _maybe_report(lineage_dir, cfg)
        finally:
            # remote outputs: the lineage built locally goes up, failed or not
            uploaded = lineage.upload_lineage(lineage_dir, out_dir)
        if uploaded:
            result.output = out_dir
            result.lineage_path = fsutil.join(out_dir, lineage.LINEAGE_FILE)
            if result.report_path:
                result.report_path = fsutil.join(out_dir, Path(result.report_path).name)
        return result


# ---------------------------------------------------------------------- helpers


FRAGMENT_FIELDS = ("fragment", "rows", "live", "rejected", "quarantined", "live_bytes", "bytes")


def _fragment_record(descriptor: dict[str, Any]) -> dict[str, Any]:
    """What the journal keeps of a fragment: its name and counts."""
    return {k: descriptor[k] for k in FRAGMENT_FIELDS}


def _descriptors(ds: Any, stats: dict[str, StageStats]) -> Iterator[dict[str, Any]]:
    """Fragment descriptors as the workers report them, each once (a task retried after its
    worker was lost rewrites the same fragment and reports it again); the stage counters
    they carry are added to ``stats``."""
    seen: set[str] = set()
    try:
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            for d in batch.to_pylist():
                if d["fragment"] not in seen:
                    seen.add(d["fragment"])
                    if d["stage_stats"]:
                        merge_stats([d["stage_stats"]], into=stats)
                    yield d
    except Exception as exc:
        raise ray_backend.run_error(exc) from exc


def _maybe_report(out_dir: str, cfg: RunConfig) -> str | None:
    if not cfg.output.report:
        return None
    try:
        from corpusforge.pipeline import report  # built by the report feature
    except ImportError:
        return None
    return report.write_report(out_dir)


def _reader_endings() -> list[str]:
    from corpusforge.pipeline.registry import all_readers

    return [e for cls in all_readers().values() for e in cls.extensions]


def _stage_fingerprint(p: PlannedStage) -> dict[str, Any]:
    return {
        "name": p.stage.instance_name,
        "kind": p.stage.name,
        "params": p.stage.params.model_dump(mode="json"),
    }


def _live_schema(urls: list[str]) -> pa.Schema:
    schemas = []
    for url in urls:
        fs, path = fsutil.get_fs(url)
        with fs.open(path, "rb") as f:
            schemas.append(pq.read_schema(f))
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    keep = [f for f in schema if f.name not in (N_CHARS, N_BYTES, TEXT_HASH)]
    return pa.schema(keep)


def _mark_global_rejects(table: pa.Table, name: str) -> pa.Table:
    import pyarrow.compute as pc

    rej = pc.and_(rejected_mask(table), pc.is_null(table.column(Col.FATE)))
    fate = pc.if_else(rej, pa.scalar(FATE_REJECTED), table.column(Col.FATE).combine_chunks())
    stage = pc.if_else(rej, pa.scalar(name), table.column(Col.STAGE).combine_chunks())
    return set_column(set_column(table, Col.FATE, fate), Col.STAGE, stage)

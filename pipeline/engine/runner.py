"""The story of a run: config -> phases on an executor -> outputs and lineage.

Phase 0 reads the input files (units of work) and applies the per-batch stages before the
first global stage; every unit commits as soon as all its records are in fragments
(:mod:`.phase0`). Each later phase starts with a global stage over all live documents, then
its per-batch stages, and commits as a whole (:mod:`.global_phase`). Finally the outputs are
packed into shards and lineage is written; the run fails if any input record did not end
kept, rejected or quarantined (:mod:`.finalize`).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from corpusforge.pipeline.api import Stage
from corpusforge.pipeline.api.errors import ConfigError, CorpusforgeError
from corpusforge.pipeline.api.reader import ReaderParams
from corpusforge.pipeline.config import RunConfig, load_config, parse_config
from corpusforge.pipeline.engine import journal, preflight, privacy, unreadable
from corpusforge.pipeline.engine.execute import StageStats
from corpusforge.pipeline.engine.executor import Executor, PhaseWork, ReadWork
from corpusforge.pipeline.engine.finalize import (
    FinishedPhases,
    start_row,
    write_outputs,
    write_run_lineage,
)
from corpusforge.pipeline.engine.global_phase import run_global_phase
from corpusforge.pipeline.engine.phase0 import run_phase0
from corpusforge.pipeline.engine.plan import (
    Phase,
    PlannedStage,
    build_stages,
    check_columns,
    split_phases,
)
from corpusforge.pipeline.engine.units import file_commits, plan_units
from corpusforge.pipeline.io import fsutil
from corpusforge.pipeline.lineage import store as lineage
from corpusforge.pipeline.lineage.summary import RunResult
from corpusforge.pipeline.registry import detect_format, get_reader, load_plugins
from corpusforge.pipeline.version import VERSION

log = logging.getLogger("corpusforge")


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
        executor: Executor | None = None,
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
        self._executor = executor
        load_plugins()
        self.planned = build_stages(self.config)
        for st in extra_stages or []:
            from corpusforge.pipeline.engine.plan import resources_for

            self.planned.append(PlannedStage(st, resources_for(st)))
        check_columns(self.config, self.planned)
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

    # ------------------------------------------------------------------ the run
    def run(self) -> RunResult:
        cfg = self.config
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        run_id = f"{started.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        out_dir = cfg.output.path
        if not fsutil.is_remote(out_dir):
            out_dir = fsutil.get_fs(out_dir)[1]
        work_dir = fsutil.join(out_dir, "_work")
        units = self._input_units()
        if not self.resume:
            self._clear_outputs(out_dir)
        fsutil.makedirs(work_dir)
        self._guard = _forget_guard(out_dir, self.planned)
        lineage.start_run(out_dir, start_row(cfg, run_id, started, VERSION, self.planned))
        executor = self._executor or _default_executor(cfg)
        stats: dict[str, StageStats] = {}  # this run's work, from the fragment descriptors
        try:
            executor.start()
            commits, todo = self._phase0(executor, units, work_dir, run_id, stats)
            fragments = [sorted((f for c in commits.values() for f in c.fragments), key=_by_name)]
            for phase in self.phases[1:]:
                work = self._phase_work(phase, work_dir, run_id)
                fragments.append(
                    self._global_phase(executor, phase, fragments[-1], work, out_dir, stats)
                )
            done = FinishedPhases(
                run_id, started, units, commits, fragments, work_dir, out_dir, len(todo)
            )
            records = write_outputs(executor, cfg, self.planned, done)
            # no cluster work is left: the local Ray's workers (every stage's models and
            # memos) are not held through lineage and the report, the driver's own peak
            executor.stop()
            return write_run_lineage(
                cfg, self.phases, done, records, stats, time.perf_counter() - t0, VERSION
            )
        except BaseException as exc:
            _record_end(out_dir, run_id, exc)
            raise
        finally:
            executor.stop()

    def _input_units(self) -> list[str]:
        # exit 2 with one line for missing inputs, a file as output, a wrong text_field
        units = preflight.input_units(self.config)
        preflight.first_records(self.config, units[0])
        return units

    def _clear_outputs(self, out_dir: str) -> None:
        sink_dirs = [s.path or s.kind for s in self.config.output.sinks]
        for sub in ("_work", "data", "rejected", "quarantine", *sink_dirs):
            fsutil.remove(fsutil.join(out_dir, sub), recursive=True)
        fsutil.remove(fsutil.join(out_dir, lineage.LINEAGE_FILE))

    def _phase0(
        self,
        executor: Executor,
        units: list[str],
        work_dir: str,
        run_id: str,
        stats: dict[str, StageStats],
    ) -> tuple[dict[str, journal.UnitCommit], list[str]]:
        """Commits of every input file (summed over its parts): those of earlier runs, and
        the rest processed now; and the files with work done now."""
        files = set(units)
        commits = journal.load_unit_commits(work_dir)
        # a file that was unreadable is tried again (its permissions may have been fixed)
        commits = {
            uid: c
            for uid, c in commits.items()
            if c.path in files and unreadable.cause_of(c.reader_stats) is None
        }
        journal.remove_orphan_fragments(work_dir, commits)
        formats = {u: self._format_of(u) for u in units}
        readers = {fmt: get_reader(fmt) for fmt in set(formats.values())}
        whole_done = {c.path for c in commits.values() if c.part is None}
        target = int((self.config.input.unit_size_mb or 0) * 1e6)
        planned, plans = plan_units(executor, formats, readers, target, work_dir, whole_done)
        todo = [u for u in planned if u.id not in commits]
        log.info(
            "%d input files, %d units: %d to process, %d done earlier",
            len(units),
            len(planned),
            len(todo),
            len(planned) - len(todo),
        )
        touched = sorted({u.path for u in todo})
        if not todo:
            return file_commits(planned, commits, plans), touched
        t_phase = time.perf_counter()
        read = ReadWork(
            units=[u.id for u in todo],
            formats={u.id: u.format for u in todo},
            readers=readers,
            reader_params=self.config.input.options,
            parts={u.id: u.item() for u in todo if u.part is not None},
        )
        work = self._phase_work(self.phases[0], work_dir, run_id)
        new = run_phase0(executor, read, work, work_dir, stats)
        for uid in sorted(new):
            if line := unreadable.warning_line(new[uid].path, new[uid].reader_stats):
                log.warning("%s", line)
        commits.update(new)
        log.info(
            "phase 0 (read%s): %d units in %.1f s",
            "".join(f", {name}" for name in self.phases[0].names),
            len(todo),
            time.perf_counter() - t_phase,
        )
        return file_commits(planned, commits, plans), touched

    def _global_phase(
        self,
        executor: Executor,
        phase: Phase,
        inputs: list[dict],
        work: PhaseWork,
        out_dir: str,
        stats: dict[str, StageStats],
    ) -> list[dict]:
        t_phase = time.perf_counter()
        work_dir = fsutil.join(out_dir, "_work")
        frags = run_global_phase(
            executor, phase, inputs, work, work_dir, out_dir, stats, self.resume
        )
        log.info(
            "phase %d (%s): %d documents in %.1f s",
            phase.index,
            ", ".join(phase.names),
            sum(f["rows"] for f in frags),
            time.perf_counter() - t_phase,
        )
        return frags

    def _phase_work(self, phase: Phase, work_dir: str, run_id: str) -> PhaseWork:
        return PhaseWork(
            stages=phase.map_stages,
            phase_dir=journal.phase_dir(work_dir, phase.index),
            compression=self.config.output.compression,
            run_id=run_id,
            plugins=self.config.plugins,
            guard=getattr(self, "_guard", None) if phase.index == 0 else None,
            rejected_text=self._fragment_privacy(),
        )

    def _fragment_privacy(self) -> privacy.RejectedText | None:
        """How phases store rejected text: redacted as the rejected output keeps it, when
        that output is written with redacted text (else as the pipeline left it)."""
        out = self.config.output
        if not out.write_rejected:
            return None
        rule = privacy.rejected_text(out.rejected_text, [p.stage for p in self.planned])
        return rule if rule.redacts_fragments else None

    def _format_of(self, path: str) -> str:
        fmt = self.config.input.format
        return detect_format(path) if fmt == "auto" else fmt


def _record_end(out_dir: str, run_id: str, exc: BaseException) -> None:
    """The run's ``runs`` row for a run that did not finish: ``interrupted`` (Ctrl-C) or
    ``failed`` with a message that names no document (the error's own, or its type)."""
    interrupted = isinstance(exc, KeyboardInterrupt | SystemExit)
    error = exc.message if isinstance(exc, CorpusforgeError) else type(exc).__name__
    try:
        lineage.finish_run(out_dir, run_id, "interrupted" if interrupted else "failed", error)
    except Exception as again:  # the run's own error is the one to report
        log.warning("could not record the end of run %s: %s", run_id, type(again).__name__)


def _by_name(fragment: dict) -> str:
    return fragment["fragment"]


def _default_executor(cfg: RunConfig) -> Executor:
    """The Ray backend: a local Ray started for the run, or the cluster ``ray.address``."""
    from corpusforge.pipeline.backends.ray.executor import RayExecutor

    return RayExecutor(cfg)


def _forget_guard(out_dir: str, planned: list[PlannedStage]) -> Any:
    """Takedowns of this output and of those the run deduplicates against (a crash's
    half-done forget is finished first)."""
    from corpusforge.pipeline.governance import guard

    guard.prepare_output(out_dir)
    against = [d for p in planned for d in (getattr(p.stage.params, "dedup_against", None) or [])]
    return guard.load_guard([out_dir, *against])

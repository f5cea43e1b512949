"""Checks before a run, shared by ``validate`` and ``run``: mistakes a user can make in a config
fail here with one line (exit 2) instead of deep in a run.

- input paths that do not exist, folders without input files, an output path that is a file;
- a dry run on the first records of the first input: the reader's options fit the data (a
  wrong ``text_field`` would quarantine every record), and, for ``validate``, every per-batch
  stage up to the first global one runs in this process on those records, so a missing model,
  a tokenizer that is not installed or a missing extra shows up before any worker starts.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pyarrow as pa

from corpusforge.pipeline.api.errors import ConfigError, CorpusforgeError, InputError
from corpusforge.pipeline.config import RunConfig
from corpusforge.pipeline.engine.execute import apply_stage
from corpusforge.pipeline.engine.plan import PlannedStage
from corpusforge.pipeline.engine.unreadable import UNREADABLE_ERRORS
from corpusforge.pipeline.io import fsutil
from corpusforge.pipeline.registry import all_readers, detect_format, get_reader
from corpusforge.schemas import FATE_QUARANTINED, Col

DRY_RUN_RECORDS = 20
_GLOB = set("*?[")


def accepted_extensions(cfg: RunConfig) -> list[str] | None:
    if cfg.input.format != "auto":
        return None
    return [e for cls in all_readers().values() for e in cls.extensions]


def input_units(cfg: RunConfig) -> list[str]:
    """The input files of a config, after checking each local path and the output path."""
    accepted = accepted_extensions(cfg)
    for path in cfg.input.paths:
        if fsutil.is_remote(path) or _GLOB & set(path):
            continue
        if not os.path.exists(path):
            raise ConfigError(
                f"input path not found: {path}",
                hint="check input.paths (relative paths start in the current folder)",
            )
        if os.path.isdir(path) and not _has_inputs(path, accepted):
            endings = " ".join(sorted(set(accepted or []))) or "the input.format's"
            raise ConfigError(
                f"input folder holds no input files: {path}", hint=f"files end in {endings}"
            )
    out = cfg.output.path
    if not fsutil.is_remote(out) and os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(
            f"output.path is a file, not a folder: {out}",
            hint="choose a folder; it is created when missing",
        )
    units = fsutil.expand_inputs(cfg.input.paths, accepted)
    if not units:
        raise ConfigError("input.paths matched no files", hint="check input.paths")
    return units


def _has_inputs(folder: str, accepted: list[str] | None) -> bool:
    try:
        return bool(fsutil.expand_inputs([folder], accepted))
    except InputError:  # fsutil's own words for a folder without input files
        return False


def first_records(cfg: RunConfig, unit: str, n: int = DRY_RUN_RECORDS) -> pa.Table:
    """Up to ``n`` records of ``unit`` as the reader gives them, checked against the options."""
    fmt = detect_format(unit) if cfg.input.format == "auto" else cfg.input.format
    reader = get_reader(fmt)({**cfg.input.options, "batch_rows": n})
    try:
        batch = next(iter(reader.read(unit)), None)
    except UNREADABLE_ERRORS:  # an unreadable file is the run's to record (one quarantined unit)
        return pa.table({})
    if batch is None:
        return pa.table({})
    batch = batch.slice(0, n)
    _check_text_field(cfg, unit, batch)
    return batch


def _check_text_field(cfg: RunConfig, unit: str, batch: pa.Table) -> None:
    if batch.num_rows == 0 or Col.REASON not in batch.column_names:
        return
    reasons = batch.column(Col.REASON).to_pylist()
    fates = batch.column(Col.FATE).to_pylist()
    if not all(
        f == FATE_QUARANTINED and r == "missing_text" for f, r in zip(fates, reasons, strict=True)
    ):
        return
    field = cfg.input.options.get("text_field", "text")
    raise ConfigError(
        f"input.options.text_field: no {field!r} field in the first {batch.num_rows} "
        f"records of {unit}",
        hint=_fields_hint(unit),
    )


def _fields_hint(unit: str) -> str:
    """The fields of the file's first JSON record (names only, never values)."""
    fallback = "set input.options.text_field to the field that holds the text"
    try:
        with _open_text(unit) as f:
            record = json.loads(f.readline())
    except (OSError, ValueError, UnicodeDecodeError):
        return fallback
    if not isinstance(record, dict) or not record:
        return fallback
    return "the records have: " + ", ".join(list(record)[:12])


def _open_text(unit: str):
    import fsspec

    return fsspec.open(unit, "rt", compression="infer", encoding="utf-8")


def dry_run(cfg: RunConfig, planned: list[PlannedStage], unit: str) -> int:
    """Run the per-batch stages before the first global stage on the first records of
    ``unit`` in this process; returns the number of records tried."""
    table = first_records(cfg, unit)
    if table.num_rows == 0:
        return 0
    for p in planned:
        if p.stage.is_global:
            break
        table = _try_stage(p, table, unit)
    return table.num_rows


def _try_stage(p: PlannedStage, table: pa.Table, unit: str) -> pa.Table:
    try:
        return apply_stage(p.stage, table)[0]
    except CorpusforgeError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"{p.stage.instance_name}: fails on the first records of {unit}: "
            f"{type(exc).__name__}: {_one_line(exc)}",
            hint="re-run with --debug for the traceback",
        ) from exc


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


def preflight(cfg: RunConfig, planned: list[PlannedStage] | None = None) -> dict[str, Any]:
    """The checks of ``validate`` (with ``planned``: the stages' dry run too)."""
    units = input_units(cfg)
    tried = dry_run(cfg, planned, units[0]) if planned is not None else 0
    if planned is None:
        first_records(cfg, units[0])
    return {
        "units": len(units),
        "first_input": units[0],
        "records_tried": tried,
        "whole_files": whole_file_notes(cfg, units),
    }


WHOLE_NOTES = 5  # files named one by one; the rest are counted


def whole_file_notes(cfg: RunConfig, units: list[str]) -> list[str]:
    """One line per input larger than ``input.unit_size_mb`` that is read as one unit, with
    its reader's reason, from file metadata only (a zstd file's frames are walked at run
    time, so it gets a note of what decides). Local files only: a stat per remote object
    would make ``validate`` slow on large buckets; the run logs the same lines."""
    target = int((cfg.input.unit_size_mb or 0) * 1e6)
    if target <= 0:
        return []
    notes = []
    for path in units:
        if fsutil.is_remote(path):
            continue
        fs, p = fsutil.get_fs(path)
        size = int(fs.size(p))
        if size <= target:
            continue
        fmt = detect_format(path) if cfg.input.format == "auto" else cfg.input.format
        reader = get_reader(fmt)
        name = fsutil.display_name(path)
        if not reader.plan_parts(path, size, target):
            reason = reader.whole_file_reason(path) or f"the {fmt} reader cannot cut it"
            notes.append(f"{name} is read as one unit: {reason}")
        elif path.lower().endswith((".zst", ".zstd")):
            notes.append(f"{name} is read in parts only if it holds several zstd frames")
    if len(notes) > WHOLE_NOTES:
        more = len(notes) - WHOLE_NOTES
        notes = [*notes[:WHOLE_NOTES], f"... and {more} more files read as one unit each"]
    return notes

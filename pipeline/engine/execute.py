"""What runs on the workers: reading units, applying stages, writing fragments.

Everything here works on plain Arrow tables; the runner wraps these callables in Ray Data
operators. Keeping them Ray-free makes the engine's per-batch logic testable in-process.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from corpusforge.pipeline.api import (
    CLUSTER_GPUS_ENV,
    Metric,
    Stage,
    rejected_mask,
    set_column,
    trim_heap,
)
from corpusforge.pipeline.api.errors import StageContractError
from corpusforge.pipeline.api.reader import ReadPart, conform_documents
from corpusforge.pipeline.engine.unreadable import checksum_or_none, read_guarded
from corpusforge.pipeline.io import fsutil
from corpusforge.pipeline.registry import import_modules, load_plugins
from corpusforge.schemas import FATE_REJECTED, OUTPUT_STEPS, Col

if TYPE_CHECKING:
    from corpusforge.pipeline.engine.privacy import RejectedText

# engine columns that ride along a unit's last batch and never reach the outputs
UNIT_TOTAL = "_unit_total"
UNIT_CHECKSUM = "_unit_checksum"
UNIT_SIZE = "_unit_size"
UNIT_STATS = "_unit_stats"
# lineage helpers computed when a fragment is written
N_CHARS = "_n_chars"
N_BYTES = "_n_bytes"
TEXT_HASH = "_text_hash"
# the PII stage a rejected row's text went through (privacy.RejectedText.redact_fragment)
TEXT_REDACTED_BY = "_text_redacted_by"
# columns of fragments only: never in a later phase's rows or in the outputs
FRAGMENT_ONLY = (N_CHARS, N_BYTES, TEXT_HASH, TEXT_REDACTED_BY)

UNIT_COLUMNS = (UNIT_TOTAL, UNIT_CHECKSUM, UNIT_SIZE, UNIT_STATS)

# Records of a file per span: fragments never straddle one, and output shards hold whole spans
# in record order (one row group each), so outputs do not depend on how the file was cut into
# units or how Ray cut blocks.
SPAN_RECORDS = 8192


def fragment_span(name: str) -> tuple[str, int]:
    """(file key, span) of a fragment name ``<unit key>-<first index>-<rows>.parquet``."""
    key, first, _ = name.rsplit("-", 2)
    return key, int(first) // SPAN_RECORDS


def fragment_first(name: str) -> int:
    """The source index of a fragment's first record (from its name)."""
    return int(name.rsplit("-", 2)[1])


@dataclass
class StageStats:
    """Per-stage counters of one run (this run's work only; lineage has the totals)."""

    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    batches: int = 0
    rejects: dict[str, int] = field(default_factory=dict)
    # the stage's own figures (Stage.take_metrics): name -> {"value", "how", "weight"}
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, other: StageStats) -> None:
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.seconds += other.seconds
        self.batches += other.batches
        for k, v in other.rejects.items():
            self.rejects[k] = self.rejects.get(k, 0) + v
        for k, m in other.metrics.items():
            self.metrics[k] = combine_metric(self.metrics[k], m) if k in self.metrics else dict(m)

    def metric_values(self) -> dict[str, float]:
        """The combined value of each metric (what lineage records)."""
        return {k: m["value"] for k, m in sorted(self.metrics.items())}


def combine_metric(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two figures of one metric as one, as the first one's ``how`` says."""
    how = a["how"]
    if how == "max":
        return {**a, "value": max(a["value"], b["value"])}
    if how == "mean":
        weight = a["weight"] + b["weight"]
        value = (a["value"] * a["weight"] + b["value"] * b["weight"]) / weight if weight else 0.0
        return {"value": value, "how": how, "weight": weight}
    return {**a, "value": a["value"] + b["value"]}


def stage_metrics(stage: Stage) -> dict[str, dict[str, Any]]:
    """What ``stage.take_metrics()`` reports, checked: finite numbers, known ways to combine."""
    out = {}
    for name, m in (stage.take_metrics() or {}).items():
        ok = isinstance(m, Metric) and m.how in ("sum", "max", "mean")
        if not (ok and isinstance(name, str) and math.isfinite(float(m.value))):
            raise StageContractError(
                f"stage {stage.instance_name!r} reported metric {name!r} as {m!r}: "
                "take_metrics() returns {name: Metric(value, how)} with finite values"
            )
        out[name] = {"value": float(m.value), "how": m.how, "weight": float(m.weight)}
    return out


# Stage counters travel with the rows they describe, in one cell of this column, up to the
# fragment writer, which reports them in its descriptor. They count exactly the work that
# produced committed fragments: a retried task's rows and counters are reported once.
STATS_COLUMN = "_stage_stats"


def merge_stats(
    encoded: list[str], into: dict[str, StageStats] | None = None
) -> dict[str, StageStats]:
    """Sum JSON-encoded ``{stage: counters}`` maps."""
    total = into if into is not None else {}
    for text in encoded:
        for name, counters in json.loads(text).items():
            total.setdefault(name, StageStats()).add(StageStats(**counters))
    return total


def encode_stats(stats: dict[str, StageStats]) -> str:
    return json.dumps({name: asdict(s) for name, s in stats.items()}, sort_keys=True)


def pop_stats(table: pa.Table) -> tuple[pa.Table, list[str]]:
    """``table`` without the stats column, and the counters it carried."""
    if STATS_COLUMN not in table.column_names:
        return table, []
    carried = table.column(STATS_COLUMN).drop_null().to_pylist()
    return table.drop_columns([STATS_COLUMN]), carried


def with_stats(table: pa.Table, encoded: str) -> pa.Table:
    """``table`` carrying ``encoded`` counters in the first row of the stats column."""
    cells = [encoded] + [None] * (table.num_rows - 1) if table.num_rows else []
    return table.append_column(STATS_COLUMN, pa.array(cells, pa.string()))


def _process_checked(stage: Stage, live: pa.Table) -> pa.Table:
    out = stage.process(live)
    if not isinstance(out, pa.Table):
        raise StageContractError(
            f"stage {stage.instance_name!r} returned {type(out).__name__}, not a pyarrow.Table"
        )
    if out.num_rows != live.num_rows or (
        live.num_rows and not out.column(Col.ID).equals(live.column(Col.ID))
    ):
        raise StageContractError(
            f"stage {stage.instance_name!r} returned {out.num_rows} rows for {live.num_rows} "
            "(or changed their order): stages must return every row; reject() instead of "
            "dropping"
        )
    return out


def live_mask(table: pa.Table) -> pa.Array:
    if Col.FATE not in table.column_names:
        return pa.array(np.ones(table.num_rows, dtype=bool))
    return pc.is_null(table.column(Col.FATE).combine_chunks())


def _text_bytes(table: pa.Table) -> int:
    if Col.TEXT not in table.column_names or table.num_rows == 0:
        return 0
    return int(pc.sum(pc.binary_length(table.column(Col.TEXT))).as_py() or 0)


def apply_stage(
    stage: Stage, table: pa.Table, batch_rows: int | None = None
) -> tuple[pa.Table, StageStats]:
    """Run ``stage`` on the live rows of ``table``; mark the rows it rejected.

    Rows already decided (rejected or quarantined earlier) pass by untouched. Live rows go to
    ``process`` in slices of at most ``batch_rows`` (the stage's ``Resources.batch_size``):
    the engine hands whole blocks to a task, so that Ray never bundles input files together
    to fill a batch, and the stage still sees bounded batches. The stage must return exactly
    its input rows in order: anything else is a contract violation that fails the run, since
    a silently dropped document is a lost document.
    """
    mask = live_mask(table)
    n_live = int(pc.sum(mask).as_py() or 0)
    if n_live == table.num_rows:
        live, done = table, None
    else:
        live, done = table.filter(mask), table.filter(pc.invert(mask))
    stage.ensure_setup()
    start = time.perf_counter()
    if batch_rows and live.num_rows > batch_rows:
        pieces = [live.slice(i, batch_rows) for i in range(0, live.num_rows, batch_rows)]
        out = pa.concat_tables(
            [_process_checked(stage, p) for p in pieces], promote_options="permissive"
        )
    else:
        out = _process_checked(stage, live)
    seconds = time.perf_counter() - start
    rej = rejected_mask(out)
    if Col.FATE in out.column_names:
        fate = pc.if_else(rej, pa.scalar(FATE_REJECTED), out.column(Col.FATE).combine_chunks())
        stage_col = pc.if_else(
            rej, pa.scalar(stage.instance_name), out.column(Col.STAGE).combine_chunks()
        )
    else:
        fate = pc.if_else(rej, pa.scalar(FATE_REJECTED), pa.scalar(None, pa.string()))
        stage_col = pc.if_else(rej, pa.scalar(stage.instance_name), pa.scalar(None, pa.string()))
    out = set_column(set_column(out, Col.FATE, fate), Col.STAGE, stage_col)

    stats = StageStats(docs_in=live.num_rows, seconds=seconds, batches=1)
    stats.metrics = stage_metrics(stage)
    stats.bytes_in = _text_bytes(live)
    if live.num_rows:
        reasons = out.column(Col.REASON).filter(rej)
        for entry in pc.value_counts(reasons).to_pylist():
            stats.rejects[entry["values"]] = int(entry["counts"])
        kept_now = out.filter(pc.invert(rej))
        stats.docs_out = kept_now.num_rows
        stats.bytes_out = _text_bytes(kept_now)
    if done is not None and done.num_rows:
        out = pa.concat_tables([out, done], promote_options="permissive")
    return out, stats


class StageRunner:
    """A Ray Data callable: one stage instance per worker process, setup() once.

    Used as an actor class for GPU stages and, through :func:`run_stage_task`, as a
    per-process cache for the others.
    """

    def __init__(
        self,
        stage_cls: type[Stage],
        params: dict[str, Any],
        instance_name: str,
        plugins: list[str],
        batch_rows: int | None = None,
        worker_gpus: int | None = None,
    ) -> None:
        load_plugins()
        import_modules(plugins)
        with _gpus_env(worker_gpus):  # the stage's setup decides its device (device: auto)
            self.stage = stage_cls(params, instance_name=instance_name)
            self.stage.ensure_setup()
        freeze_long_lived_objects()
        self.batch_rows = batch_rows

    def __call__(self, table: pa.Table) -> pa.Table:
        table, carried = pop_stats(table)
        out, stats = apply_stage(self.stage, table, self.batch_rows)
        counters = merge_stats(carried)
        counters.setdefault(self.stage.instance_name, StageStats()).add(stats)
        return with_stats(out, encode_stats(counters))


@contextmanager
def _gpus_env(gpus: int | None) -> Iterator[None]:
    """``CLUSTER_GPUS_ENV`` set to ``gpus`` (when given) while a stage is built and set up."""
    if gpus is None:
        yield
        return
    before = os.environ.get(CLUSTER_GPUS_ENV)
    os.environ[CLUSTER_GPUS_ENV] = str(gpus)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(CLUSTER_GPUS_ENV, None)
        else:
            os.environ[CLUSTER_GPUS_ENV] = before


_TASK_STAGES: dict[tuple[str, str], StageRunner] = {}


def task_scope(run_id: str, phase_dir: str) -> str:
    """What the stage instances a worker process keeps serve: one phase of one run."""
    return f"{run_id}:{phase_dir}"


def run_stage_task(
    table: pa.Table,
    stage_cls: type[Stage],
    params: dict[str, Any],
    instance_name: str,
    plugins: list[str],
    scope: str,
    batch_rows: int | None = None,
    worker_gpus: int | None = None,
) -> pa.Table:
    """Task-mode entry of a stage: the instance (and its setup) is cached per worker process
    for the phase (``scope``, :func:`task_scope`). The first task of a new phase or run drops
    the instances of the others: a worker then holds one phase's models and memos, not every
    stage of the pipeline (phase 0's language ID, quality and PII state is not carried through
    dedup, tokenization and the outputs)."""
    key = (scope, instance_name)
    runner = _TASK_STAGES.get(key)
    if runner is None:
        if _drop_other_scopes(scope):
            release_freed_memory()
        runner = _TASK_STAGES[key] = StageRunner(
            stage_cls, params, instance_name, plugins, batch_rows, worker_gpus
        )
    return runner(table)


def _drop_other_scopes(scope: str) -> bool:
    old = [k for k in _TASK_STAGES if k[0] != scope]
    for k in old:
        del _TASK_STAGES[k]
    return bool(old)


def drop_stage_instances() -> None:
    """Drop every stage instance this worker keeps (a task that runs no stage, such as an
    output shard's writer, does not need the last phase's tokenizer or models)."""
    if _TASK_STAGES:
        _TASK_STAGES.clear()
        release_freed_memory()


def freeze_long_lived_objects() -> None:
    """Collect once, then leave every object alive now out of later collections
    (``gc.freeze``). What a stage's setup builds (spaCy's vocabulary, Presidio's recognizers,
    models, tables) lives as long as the worker, and each full collection would walk it again:
    about 0.2 s per collection for a quality stage's worker, a third of what its first 5 MB
    cost otherwise. Objects freed by reference counting are still freed;
    :func:`release_freed_memory` unfreezes before it collects dropped stages."""
    import gc

    gc.collect()
    gc.freeze()


def release_freed_memory() -> None:
    """Collect now, and hand the C heap's free pages back to the system (glibc only): the
    dropped stages' arrays and objects leave the worker's resident memory at once (frozen
    objects are unfrozen first, so a dropped stage's reference cycles are found)."""
    import gc

    gc.unfreeze()
    gc.collect()
    trim_heap()


def read_units(
    batch: pa.Table, readers: dict[str, type], reader_params: dict[str, Any], plugins: list[str]
) -> Iterator[pa.Table]:
    """Read each unit (an input file, or a part of one) of ``batch``; its last batch carries
    the unit's totals.

    ``readers`` maps format names to reader classes (resolved on the driver, so readers
    defined in user scripts travel with the task). A unit with no records yields nothing: the
    driver commits it when the phase completes, with counters from :func:`empty_unit_stats`.
    A part's checksum and size are the file's, taken once by the planner, so parts report
    none.
    """
    load_plugins()
    import_modules(plugins)
    parts = batch.column("part").to_pylist() if "part" in batch.column_names else None
    for i, (path, fmt) in enumerate(
        zip(batch.column("path").to_pylist(), batch.column("format").to_pylist(), strict=True)
    ):
        part = ReadPart(**json.loads(parts[i])) if parts and parts[i] else None
        reader = readers[fmt](reader_params)
        pending: pa.Table | None = None
        total = text_bytes = 0
        seconds, t0 = 0.0, time.perf_counter()  # reading only: not the consumer's time
        for table in read_guarded(reader, path, part):
            if table.num_rows == 0:
                continue
            if pending is not None:
                seconds += time.perf_counter() - t0
                yield pending.append_column(STATS_COLUMN, pa.nulls(pending.num_rows, pa.string()))
                t0 = time.perf_counter()
            table = conform_documents(table)
            total += table.num_rows
            text_bytes += _text_bytes(table)
            pending = table
        seconds += time.perf_counter() - t0
        if pending is None:
            continue
        checksum, size = checksum_or_none(path) if part is None else (None, None)
        n = pending.num_rows
        pending = with_stats(pending, _read_counters(reader, total, size, text_bytes, seconds))
        pending = pending.append_column(UNIT_TOTAL, pa.array([total] * n, pa.int64()))
        pending = pending.append_column(UNIT_CHECKSUM, pa.array([checksum] * n, pa.string()))
        pending = pending.append_column(UNIT_SIZE, pa.array([size] * n, pa.int64()))
        stats = json.dumps(getattr(reader, "stats", None) or {}, sort_keys=True)
        pending = pending.append_column(UNIT_STATS, pa.array([stats] * n, pa.string()))
        yield pending


def empty_unit_stats(
    reader_cls: type, reader_params: dict[str, Any], plugins: list[str], path: str, part: str | None
) -> str:
    """The reader counters (JSON) of a unit that yielded no rows (a part of only blank lines,
    or of WARC records that are not documents): such a unit reaches no fragment, so its
    counters are taken by reading it again, as a task, when the phase ends."""
    load_plugins()
    import_modules(plugins)
    reader = reader_cls(reader_params)
    for _ in read_guarded(reader, path, ReadPart(**json.loads(part)) if part else None):
        pass
    return json.dumps(getattr(reader, "stats", None) or {}, sort_keys=True)


def _read_counters(reader: Any, records: int, size: int | None, text: int, seconds: float) -> str:
    """``read`` counters of one unit (file bytes in, text bytes out); a reader that times its
    HTML extraction (``stats["extract_seconds"]``) gets an ``extract`` entry of its own."""
    stats = getattr(reader, "stats", None) or {}
    extract = float(stats.get("extract_seconds") or 0.0)
    counters = {
        "read": StageStats(
            docs_in=records,
            docs_out=records,
            bytes_in=size or 0,
            bytes_out=text,
            seconds=max(seconds - extract, 0.0),
            batches=1,
        )
    }
    if extract:
        counters["extract"] = StageStats(seconds=extract, batches=1)
    return encode_stats(counters)


def _hash_texts(texts: pa.ChunkedArray | pa.Array) -> pa.Array:
    values = texts.to_pylist()
    return pa.array(
        [
            xxhash.xxh3_64_hexdigest(t.encode("utf-8", "surrogatepass")) if t is not None else None
            for t in values
        ],
        pa.string(),
    )


def fragment_descriptors_schema() -> pa.Schema:
    return pa.schema(
        [
            ("unit", pa.string()),
            ("fragment", pa.string()),
            ("rows", pa.int64()),
            ("live", pa.int64()),
            ("rejected", pa.int64()),
            ("quarantined", pa.int64()),
            ("live_bytes", pa.int64()),
            ("unit_total", pa.int64()),
            ("unit_checksum", pa.string()),
            ("unit_size", pa.int64()),
            ("unit_stats", pa.string()),
            ("bytes", pa.int64()),
            ("rejected_bytes", pa.int64()),
            ("stage_stats", pa.string()),
        ]
    )


def write_fragments(
    batch: pa.Table,
    phase_dir: str,
    compression: str = "zstd",
    guard: Any = None,
    rejected_text: RejectedText | None = None,
    scope: str = "",
) -> pa.Table:
    """Write ``batch`` as one Parquet fragment per unit; return one descriptor row each.

    Names derive from the unit and the record indices they hold, so a retried task rewrites
    the same files instead of adding copies. With ``rejected_text`` (``redacted``), rejected
    rows the PII stage has not seen are redacted first, in this task (see ``privacy``); the
    lineage columns (``_n_chars``, ``_text_hash``) still describe the text as rejected.
    """
    rows: list[dict[str, Any]] = []
    if batch.num_rows == 0:
        return pa.Table.from_pylist(rows, schema=fragment_descriptors_schema())
    batch, carried = pop_stats(batch)
    if guard is not None:  # takedowns that stick: forgotten documents never go live again
        batch = guard(batch)
    stats = merge_stats(carried)
    redacting, writing = StageStats(), StageStats()
    for source_path, piece in _span_pieces(batch):
        start = time.perf_counter()
        unit_total = unit_checksum = unit_size = unit_stats = None
        if UNIT_TOTAL in piece.column_names:
            totals = piece.column(UNIT_TOTAL).drop_null()
            if len(totals):
                unit_total = int(totals[0].as_py())
                unit_checksum, unit_size = _first_valid(piece, UNIT_CHECKSUM, UNIT_SIZE)
                unit_stats = piece.column(UNIT_STATS).drop_null()[0].as_py()
            piece = piece.drop_columns([c for c in UNIT_COLUMNS if c in piece.column_names])
        texts = piece.column(Col.TEXT)
        piece = set_column(piece, N_CHARS, pc.cast(pc.utf8_length(texts), pa.int64()))
        piece = set_column(piece, N_BYTES, pc.cast(pc.binary_length(texts), pa.int64()))
        piece = set_column(piece, TEXT_HASH, _hash_texts(texts))
        redacted = StageStats()
        if rejected_text is not None and rejected_text.redacts_fragments:
            piece, redacted = rejected_text.redact_fragment(
                piece, lambda: _redactor(rejected_text, scope)
            )
            redacting.add(redacted)
        first = int(piece.column(Col.SOURCE_INDEX)[0].as_py())
        name = f"{fsutil.unit_key(source_path)}-{first:010d}-{piece.num_rows:07d}.parquet"
        size = fsutil.atomic_write_parquet(fsutil.join(phase_dir, name), piece, compression)
        fates = piece.column(Col.FATE)
        live = pc.is_null(fates)
        rejected = pc.fill_null(pc.equal(fates, "rejected"), False)
        rows.append(
            {
                "unit": source_path,
                "fragment": name,
                "rows": piece.num_rows,
                "live": int(pc.sum(live).as_py() or 0),
                "rejected": int(pc.sum(rejected).as_py() or 0),
                "quarantined": int(pc.sum(pc.equal(fates, "quarantined")).as_py() or 0),
                "live_bytes": int(pc.sum(piece.column(N_BYTES).filter(live)).as_py() or 0),
                "unit_total": unit_total,
                "unit_checksum": unit_checksum,
                "unit_size": unit_size,
                "unit_stats": unit_stats,
                "bytes": size,
                "rejected_bytes": int(pc.sum(piece.column(N_BYTES).filter(rejected)).as_py() or 0),
                "stage_stats": None,
            }
        )
        n_bytes = int(pc.sum(piece.column(N_BYTES)).as_py() or 0)
        writing.add(
            StageStats(
                docs_in=piece.num_rows,
                docs_out=piece.num_rows,
                bytes_in=n_bytes,
                bytes_out=size,
                seconds=time.perf_counter() - start - redacted.seconds,  # the writing's own
                batches=1,
            )
        )
    for name, counters in zip(OUTPUT_STEPS, (redacting, writing), strict=True):
        if counters.batches:
            stats.setdefault(name, StageStats()).add(counters)
    rows[0]["stage_stats"] = encode_stats(stats)  # the batch's counters, reported once
    return pa.Table.from_pylist(rows, schema=fragment_descriptors_schema())


def _redactor(rule: RejectedText, scope: str) -> Stage:
    """The PII stage instance this worker process already runs for the phase, when the
    phase's chain holds it (one setup, one model in memory), else the privacy rule's own."""
    runner = _TASK_STAGES.get((scope, rule.redactor_name or ""))
    return runner.stage if runner is not None else rule.stage()


def _first_valid(piece: pa.Table, *columns: str) -> list[Any]:
    """The first non-null value of each column (None where all are null: a part's)."""
    out = []
    for c in columns:
        values = piece.column(c).drop_null()
        out.append(values[0].as_py() if len(values) else None)
    return out


def _span_pieces(batch: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """The rows of each (file, span) of ``batch``, in record order; a unit's totals ride on
    its last span's piece (the columns are null elsewhere)."""
    paths = batch.column(Col.SOURCE_PATH).combine_chunks()
    for source_path in pc.unique(paths).to_pylist():
        piece = batch.filter(pc.equal(paths, source_path))
        piece = piece.take(pc.sort_indices(piece.column(Col.SOURCE_INDEX)))
        spans = pc.divide(piece.column(Col.SOURCE_INDEX), SPAN_RECORDS).combine_chunks()
        for span in pc.unique(spans).to_pylist():
            yield source_path, piece.filter(pc.equal(spans, span))


def read_live_fragments(batch: pa.Table, schema: pa.Schema) -> Iterator[pa.Table]:
    """Read fragments of a finished phase, keeping only live rows, cast to one schema."""
    import pyarrow.parquet as pq

    for url in batch.column("path").to_pylist():
        fs, path = fsutil.get_fs(url)
        with fs.open(path, "rb") as f:
            table = pq.read_table(f)
        table = table.filter(live_mask(table))
        if table.num_rows:
            drop = [c for c in FRAGMENT_ONLY if c in table.column_names]
            yield cast_to(table.drop_columns(drop), schema)


def cast_to(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Add missing columns as nulls and order/cast columns like ``schema``."""
    arrays = []
    for fld in schema:
        if fld.name in table.column_names:
            arrays.append(table.column(fld.name).cast(fld.type))
        else:
            arrays.append(pa.nulls(table.num_rows, fld.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def live_schema(urls: list[str]) -> pa.Schema:
    """One schema for the live rows of a phase's fragments (engine columns left out)."""
    import pyarrow.parquet as pq

    schemas = []
    for url in urls:
        fs, path = fsutil.get_fs(url)
        with fs.open(path, "rb") as f:
            schemas.append(pq.read_schema(f))
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    return pa.schema([f for f in schema if f.name not in FRAGMENT_ONLY])


def mark_global_rejects(table: pa.Table, name: str) -> pa.Table:
    """Turn the rows a global stage marked with ``reject`` into rejected rows of ``name``."""
    rej = pc.and_(rejected_mask(table), pc.is_null(table.column(Col.FATE)))
    fate = pc.if_else(rej, pa.scalar(FATE_REJECTED), table.column(Col.FATE).combine_chunks())
    stage = pc.if_else(rej, pa.scalar(name), table.column(Col.STAGE).combine_chunks())
    return set_column(set_column(table, Col.FATE, fate), Col.STAGE, stage)

"""Final outputs: kept, rejected and quarantined documents as Parquet shards, plus sinks.

The driver plans shards from fragment descriptors (counts and sizes only); each shard is
written by one task that streams its fragments, so no node holds more than a shard. Shard
names and contents depend only on the committed fragments, so a re-run after a crash rewrites
the same files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpusforge.pipeline.api.sink import SINK_INDEX_SCHEMA
from corpusforge.pipeline.engine.execute import (
    FRAGMENT_ONLY,
    cast_to,
    drop_stage_instances,
    fragment_span,
    live_mask,
)
from corpusforge.pipeline.engine.privacy import REDACTED_BY, RejectedText
from corpusforge.pipeline.io import fsutil
from corpusforge.schemas import FATE_QUARANTINED, FATE_REJECTED, Col

KEPT, REJECTED, QUARANTINED = "kept", "rejected", "quarantined"
OUTPUT_DIRS = {KEPT: "data", REJECTED: "rejected", QUARANTINED: "quarantine"}
ENGINE_ONLY = (Col.FATE, Col.STAGE, Col.REASON, Col.DETAIL, Col.ERROR, *FRAGMENT_ONLY)
QUARANTINE_COLUMNS = [
    Col.ID,
    Col.SOURCE_PATH,
    Col.SOURCE_INDEX,
    Col.SOURCE_LINE,
    Col.SOURCE_OFFSET,
    Col.REASON,
    Col.ERROR,
]
OUTPUT_FIELDS = ("kind", "path", "rows", "bytes", "checksum")
REJECT_RENAMES = {
    Col.STAGE: "reject_stage",
    Col.REASON: "reject_reason",
    Col.DETAIL: "reject_detail",
}


@dataclass
class FragmentRef:
    url: str
    rows: int  # rows of the category this shard plan is about
    weight: int  # estimated bytes of those rows
    group: object = None  # (file, span): shards end only between groups


@dataclass
class ShardPlan:
    category: str
    name: str  # e.g. part-00003.parquet
    fragments: list[str] = field(default_factory=list)
    rows: int = 0


def plan_shards(category: str, refs: list[FragmentRef], target_bytes: int) -> list[ShardPlan]:
    """Group consecutive fragments into shards of about ``target_bytes``.

    A shard ends only where the fragment group (file, span) changes, so the cuts do not
    depend on how a span's rows were split into fragments (by units or by Ray's blocks).
    """
    shards: list[ShardPlan] = []
    current: ShardPlan | None = None
    weight = 0
    group: object = None
    for ref in refs:
        if ref.rows == 0:
            continue
        new_group = ref.group is None or ref.group != group
        group = ref.group
        if current is None or (weight >= target_bytes and new_group):
            current = ShardPlan(category, f"part-{len(shards):05d}.parquet")
            shards.append(current)
            weight = 0
        current.fragments.append(ref.url)
        current.rows += ref.rows
        weight += ref.weight
    return shards


def category_filter(table: pa.Table, category: str) -> pa.Table:
    fates = table.column(Col.FATE)
    if category == KEPT:
        return table.filter(live_mask(table))
    wanted = FATE_REJECTED if category == REJECTED else FATE_QUARANTINED
    return table.filter(pc.fill_null(pc.equal(fates, wanted), False))


def shape_for_output(table: pa.Table, category: str, drop: tuple[str, ...]) -> pa.Table:
    """The columns a user sees in each output (engine bookkeeping removed or renamed)."""
    if category == QUARANTINED:
        present = [c for c in QUARANTINE_COLUMNS if c in table.column_names]
        out = table.select(present)
        return out.rename_columns(["reason" if c == Col.REASON else c.lstrip("_") for c in present])
    if category == KEPT:
        return table.drop_columns([c for c in (*ENGINE_ONLY, *drop) if c in table.column_names])
    remove = [c for c in (Col.FATE, Col.ERROR, *FRAGMENT_ONLY, *drop)]
    table = table.drop_columns([c for c in remove if c in table.column_names])
    return table.rename_columns([REJECT_RENAMES.get(c, c) for c in table.column_names])


def output_schema(fragment_urls: list[str], category: str, drop: tuple[str, ...]) -> pa.Schema:
    """One schema for every shard of a category (HF datasets wants identical file schemas)."""
    schemas = []
    for url in fragment_urls:
        fs, path = fsutil.get_fs(url)
        with fs.open(path, "rb") as f:
            schema = pq.read_schema(f)
        empty = pa.Table.from_batches([], schema=schema)
        schemas.append(shape_for_output(empty, category, drop).schema)
    if not schemas:
        return pa.schema([])
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    if category == REJECTED and REDACTED_BY not in schema.names:
        schema = schema.append(pa.field(REDACTED_BY, pa.string()))
    return schema


def write_shard(
    plan: ShardPlan,
    out_root: str,
    schema: pa.Schema,
    drop: tuple[str, ...],
    compression: str,
    sinks: list[tuple[Any, str]],
    rejected_text: RejectedText | None = None,
) -> dict[str, Any]:
    """Write one output shard (and the matching sink shards); returns its record.

    Rejected documents are stored as ``rejected_text`` says (redacted by default)."""
    drop_stage_instances()
    out_url = fsutil.join(out_root, OUTPUT_DIRS[plan.category], plan.name)
    doc_ids: list[str] = []
    rows = 0

    def shard_tables() -> Any:
        for table in _span_tables(plan):
            if plan.category == REJECTED and rejected_text is not None:
                table = rejected_text.apply(table)
            yield table

    with (
        fsutil.atomic_write(out_url) as f,
        pq.ParquetWriter(f, schema, compression=compression) as writer,
    ):
        for table in shard_tables():
            shaped = cast_to(shape_for_output(table, plan.category, drop), schema)
            writer.write_table(shaped)
            rows += shaped.num_rows
            if plan.category == KEPT:
                doc_ids.extend(table.column(Col.ID).to_pylist())
    checksum, size = fsutil.file_checksum(out_url)
    record: dict[str, Any] = {
        "kind": plan.category,
        "path": out_url,
        "rows": rows,
        "bytes": size,
        "checksum": checksum,
        "index": None,
        "sink_outputs": [],
        "files": [],  # the sink files of this shard, as rows of the `outputs` table
    }
    if plan.category == KEPT:
        index = pa.table(
            {
                "doc_id": pa.array(doc_ids, pa.string()),
                "output": pa.array(["data"] * rows, pa.string()),
                "shard": pa.array([plan.name] * rows, pa.string()),
                "start": pa.array(range(rows), pa.int64()),
                "length": pa.array([1] * rows, pa.int64()),
            }
        )
        tables = [index]
        stem = plan.name.removesuffix(".parquet")
        for sink, sink_dir in sinks:
            sink_index = sink.write_shard(shard_tables(), sink_dir, stem)
            sink_index = cast_to(sink_index, SINK_INDEX_SCHEMA)
            tables.append(
                pa.table(
                    {
                        "doc_id": sink_index.column("doc_id"),
                        "output": pa.array([sink.name] * sink_index.num_rows, pa.string()),
                        "shard": sink_index.column("shard"),
                        "start": sink_index.column("offset"),
                        "length": sink_index.column("count"),
                    }
                )
            )
            record["sink_outputs"].append(sink.name)
            record["files"].extend(sink_files(sink.name, sink_dir, stem, sink_index.num_rows))
        record["index"] = pa.concat_tables(tables)
    return record


def _span_tables(plan: ShardPlan) -> Any:
    """The shard's rows, one table per (file, span) of consecutive fragments, in record
    order: the same tables (so the same row groups) however the span was fragmented."""
    pending: list[pa.Table] = []
    key: tuple[str, int] | None = None
    for url in plan.fragments:
        ffs, fpath = fsutil.get_fs(url)
        with ffs.open(fpath, "rb") as f:
            table = category_filter(pq.read_table(f), plan.category)
        group = fragment_span(url.rsplit("/", 1)[-1])
        if pending and group != key:
            yield _in_record_order(pending)
            pending = []
        key = group
        if table.num_rows:
            pending.append(table)
    if pending:
        yield _in_record_order(pending)


def _in_record_order(tables: list[pa.Table]) -> pa.Table:
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    return table.take(pc.sort_indices(table.column(Col.SOURCE_INDEX)))


def _file_row(kind: str, url: str, rows: int | None) -> dict[str, Any]:
    checksum, size = fsutil.file_checksum(url)
    return {"kind": kind, "path": url, "rows": rows, "bytes": size, "checksum": checksum}


def sink_files(sink: str, sink_dir: str, stem: str, rows: int) -> list[dict[str, Any]]:
    """The files a sink wrote for shard ``stem`` (``part-00000.bin``, ``.idx`` ...)."""
    return [
        _file_row(sink, url, rows)
        for url in fsutil.listdir(sink_dir)
        if url.rsplit("/", 1)[-1].split(".")[0] == stem and ".tmp-" not in url
    ]


def output_rows(
    records: list[dict[str, Any]], sink_dirs: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Every file of the output as a row of lineage's ``outputs`` (kind, path, rows, bytes,
    checksum): the Parquet shards, each sink's shard files, and the other files a sink keeps
    beside them (the tokenizer copy). Lineage and the report are added by the finalizer."""
    rows = [{k: r[k] for k in OUTPUT_FIELDS} for r in records]
    rows += [f for r in records for f in r.get("files", [])]
    listed = {r["path"] for r in rows}
    for sink, sink_dir in sink_dirs:
        for url in fsutil.listdir(sink_dir):
            if url not in listed and ".tmp-" not in url:
                rows.append(_file_row(sink, url, None))
    return rows


def remove_stale(out_root: str, category: str, keep: set[str]) -> None:
    """Delete shards of an earlier, larger run that this run's plan no longer has."""
    for url in fsutil.listdir(fsutil.join(out_root, OUTPUT_DIRS[category])):
        name = url.rsplit("/", 1)[-1]
        if name not in keep:
            fsutil.remove(url)

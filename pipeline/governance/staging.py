"""Stage 1 of a forget: every affected file's new version, written beside the output.

Nothing under the output changes here: new files go to ``OUT/takedowns/<id>.staging/<same
relative path>``, with the lineage rows that describe them. Only when all are written does
``_STAGED.json`` appear; from then on the request is committed (moved into place) even after
a crash, and before it a crash leaves the output untouched and the request is staged again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.engine import journal
from corpusforge.pipeline.engine.outputs import OUTPUT_DIRS
from corpusforge.pipeline.governance import checkpoints, takedowns
from corpusforge.pipeline.governance.layout import WORK_DIR, Layout
from corpusforge.pipeline.governance.parquet_files import read_table, write_like
from corpusforge.pipeline.governance.textnorm import normalized_hashes
from corpusforge.pipeline.io import fsutil
from corpusforge.pipeline.registry import get_sink
from corpusforge.schemas import Col

STAGED = "_STAGED.json"
LINEAGE_DIR = "_lineage"
DOC_OUTPUTS_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("output", pa.string()),
        ("shard", pa.string()),
        ("start", pa.int64()),
        ("length", pa.int64()),
    ]
)


@dataclass
class Staging:
    rid: str
    layout: Layout
    con: duckdb.DuckDBPyConnection
    drop: pa.Array  # ids of the documents to forget
    moves: list[str] = field(default_factory=list)  # relative paths, in commit order
    deletes: list[str] = field(default_factory=list)  # shards left with no document
    removed: list[str] = field(default_factory=list)  # their lineage paths
    replaced: list[tuple[str, str]] = field(default_factory=list)  # (output, shard)
    doc_outputs: list[pa.Table] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    norm: dict[str, str] = field(default_factory=dict)  # doc id -> normalized-text hash
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("data_shards", "token_shards", "rejected_shards", "checkpoints"), 0
        )
    )
    recorded: dict[str, str] = field(default_factory=dict)  # relative path -> lineage path

    @property
    def root(self) -> str:
        return takedowns.staging_url(self.layout.out_dir, self.rid)

    def staged(self, rel: str) -> str:
        return fsutil.join(self.root, *rel.split("/"))

    def bump(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def note_output(self, rel: str, rows: int) -> None:
        """A rewritten file recorded in ``outputs``: its new rows, size and checksum."""
        self.moves.append(rel)
        if rel in self.recorded:
            checksum, size = fsutil.file_checksum(self.staged(rel))
            self.outputs.append(
                {"path": self.recorded[rel], "rows": rows, "bytes": size, "checksum": checksum}
            )

    def remove(self, rel: str) -> None:
        """A shard that would hold no document goes (Megatron cannot map an empty .bin)."""
        self.deletes.append(rel)
        if rel in self.recorded:
            self.removed.append(self.recorded[rel])

    def hash_gone(self, table: pa.Table, gone: pa.Array, prefer: bool = False) -> None:
        if Col.TEXT not in table.column_names:
            return
        sub = table.filter(gone)
        hashes = normalized_hashes(sub.column(Col.TEXT)).to_pylist()
        for doc_id, h in zip(sub.column(Col.ID).to_pylist(), hashes, strict=True):
            if h is not None and (prefer or doc_id not in self.norm):
                self.norm[doc_id] = h


def _gone(table: pa.Table, drop: pa.Array) -> pa.Array:
    return pc.fill_null(pc.is_in(table.column(Col.ID), drop), False)


def _without(st: Staging, src: str, rel: str) -> pa.Table:
    """Stage ``src`` (an output shard) without the forgotten documents; the rows kept."""
    table = read_table(src)
    gone = _gone(table, st.drop)
    st.hash_gone(table, gone)
    kept = table.filter(pc.invert(gone))
    if kept.num_rows == 0:
        st.remove(rel)
        return kept
    write_like(kept, st.staged(rel), src)
    st.note_output(rel, kept.num_rows)
    return kept


def stage_data_shards(st: Staging) -> None:
    shards = st.con.execute(
        "SELECT DISTINCT shard FROM doc_outputs JOIN _drop USING (doc_id) "
        "WHERE output = 'data' ORDER BY shard"
    ).fetchall()
    for (shard,) in shards:
        kept = _without(st, st.layout.data_url(shard), f"{OUTPUT_DIRS['kept']}/{shard}")
        n = kept.num_rows
        st.replaced.append(("data", shard))
        st.doc_outputs.append(
            pa.table(
                {
                    "doc_id": kept.column(Col.ID).cast(pa.string()),
                    "output": pa.array(["data"] * n, pa.string()),
                    "shard": pa.array([shard] * n, pa.string()),
                    "start": pa.array(range(n), pa.int64()),
                    "length": pa.array([1] * n, pa.int64()),
                },
                schema=DOC_OUTPUTS_SCHEMA,
            )
        )
        st.bump("data_shards")


def stage_token_shards(st: Staging) -> None:
    pairs = st.con.execute(
        "SELECT DISTINCT output, shard FROM doc_outputs JOIN _drop USING (doc_id) "
        "WHERE output <> 'data' ORDER BY output, shard"
    ).fetchall()
    out = st.layout.out_dir.rstrip("/")
    drop = set(st.drop.to_pylist())
    for output, shard in pairs:
        spec = st.layout.sinks.get(output)
        if spec is None:
            raise ValueError(f"doc_outputs names sink {output!r}, the run config has no such sink")
        ids = [
            r[0]
            for r in st.con.execute(
                "SELECT doc_id FROM doc_outputs WHERE output = ? AND shard = ? ORDER BY start",
                [output, shard],
            ).fetchall()
        ]
        sink_rel = spec.url[len(out) + 1 :]
        stem = shard.rsplit(".", 1)[0]
        sink = get_sink(spec.kind)(spec.params)
        src = fsutil.join(spec.url, shard)
        st.replaced.append((output, shard))
        st.bump("token_shards")
        if set(ids) <= drop:
            for name in sink.shard_files(shard):
                st.remove(f"{sink_rel}/{name}")
            continue
        index = sink.rewrite_shard(src, drop, st.staged(sink_rel), stem, ids)
        for name in sink.shard_files(shard):  # the .idx after the .bin: an indexed shard is whole
            st.note_output(f"{sink_rel}/{name}", index.num_rows)
        st.doc_outputs.append(
            pa.table(
                {
                    "doc_id": index.column("doc_id"),
                    "output": pa.array([output] * index.num_rows, pa.string()),
                    "shard": index.column("shard"),
                    "start": index.column("offset"),
                    "length": index.column("count"),
                },
                schema=DOC_OUTPUTS_SCHEMA,
            )
        )


def stage_rejected_shards(st: Staging) -> None:
    sub = OUTPUT_DIRS["rejected"]
    for src in fsutil.listdir(fsutil.join(st.layout.out_dir, sub), ".parquet"):
        ids = read_table(src, [Col.ID])
        if not pc.any(_gone(ids, st.drop)).as_py():
            continue
        _without(st, src, f"{sub}/{src.rsplit('/', 1)[-1]}")
        st.bump("rejected_shards")


def stage_checkpoints(st: Staging, unit_keys: set[str]) -> None:
    work = st.layout.work_url()
    for phase in checkpoints.phase_indices(work):
        new: dict[str, dict[str, Any]] = {}
        for src in checkpoints.candidate_fragments(work, phase, unit_keys):
            table = read_table(src)
            gone = _gone(table, st.drop)
            if not pc.any(gone).as_py():
                continue
            if phase == 0:
                st.hash_gone(table, gone, prefer=True)  # the text the engine's check sees
                table = checkpoints.forget_rows(table, gone, st.rid)
            else:
                table = table.filter(pc.invert(gone))
            name = src.rsplit("/", 1)[-1]
            rel = f"{WORK_DIR}/phase{phase}/{name}"
            _, size = write_like(table, st.staged(rel), src)
            st.moves.append(rel)
            new[name] = checkpoints.descriptor(name, table, size)
            st.bump("checkpoints")
        if not new:
            continue
        files = (
            checkpoints.unit_commit_files(work, new)
            if phase == 0
            else {
                f"phase{phase}/{journal.PHASE_DONE}": checkpoints.phase_done_file(work, phase, new)
            }
        )
        for rel, data in files.items():
            if data is not None:
                fsutil.atomic_write_bytes(st.staged(f"{WORK_DIR}/{rel}"), data)
                st.moves.append(f"{WORK_DIR}/{rel}")


def write_staged(st: Staging, docs: pa.Table) -> None:
    """The lineage rows, the request's document list, then the marker that seals it."""
    lineage_dir = st.staged(LINEAGE_DIR)
    new_rows = (
        pa.concat_tables(st.doc_outputs) if st.doc_outputs else DOC_OUTPUTS_SCHEMA.empty_table()
    )
    fsutil.atomic_write_parquet(fsutil.join(lineage_dir, "doc_outputs.parquet"), new_rows)
    replaced = pa.table(
        {
            "output": pa.array([o for o, _ in st.replaced], pa.string()),
            "shard": pa.array([s for _, s in st.replaced], pa.string()),
        }
    )
    fsutil.atomic_write_parquet(fsutil.join(lineage_dir, "replaced.parquet"), replaced)
    ids = docs.column("doc_id").to_pylist()
    listed = pa.table(
        {
            "doc_id": pa.array(ids, pa.string()),
            "text_hash": docs.column("text_hash").cast(pa.string()),
            "norm_hash": pa.array([st.norm.get(d) for d in ids], pa.string()),
            "prior_fate": docs.column("fate").cast(pa.string()),
            "request_id": pa.array([st.rid] * len(ids), pa.string()),
        },
        schema=takedowns.FORGOTTEN_SCHEMA,
    )
    fsutil.atomic_write_parquet(takedowns.docs_url(st.layout.out_dir, st.rid), listed)
    marker = {
        "moves": st.moves,
        "deletes": st.deletes,
        "removed": st.removed,
        "outputs": st.outputs,
        "counts": st.counts,
    }
    fsutil.atomic_write_bytes(st.staged(STAGED), json.dumps(marker, sort_keys=True).encode())


def stage_request(st: Staging, docs: pa.Table) -> None:
    st.recorded = {
        st.layout.rel(p): p for (p,) in st.con.execute("SELECT path FROM outputs").fetchall()
    }
    st.con.register("_drop", pa.table({"doc_id": st.drop}))
    try:
        if "doc_outputs" in {r[0] for r in st.con.execute("SHOW TABLES").fetchall()}:
            stage_data_shards(st)
            stage_token_shards(st)
        stage_rejected_shards(st)
        unit_keys = {fsutil.unit_key(p) for p in docs.column("source_path").to_pylist()}
        stage_checkpoints(st, unit_keys)
    finally:
        st.con.unregister("_drop")
    write_staged(st, docs)

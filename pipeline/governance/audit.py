"""``corpusforge audit OUT``: re-check a finished output against its lineage.

Every recorded output file is re-hashed; every file in an output folder must be recorded;
every kept document must come from a recorded input file (with its checksum) and sit in its
data shard and token shards exactly where ``doc_outputs`` says; no forgotten document may
remain in any data, token, rejected or checkpoint file, in the report, or as a kept copy with
the same text. The result is recorded in lineage's ``audits`` table.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.engine.outputs import OUTPUT_DIRS
from corpusforge.pipeline.governance import checkpoints, provenance
from corpusforge.pipeline.governance import layout as layout_mod
from corpusforge.pipeline.governance.layout import Layout
from corpusforge.pipeline.governance.parquet_files import read_table
from corpusforge.pipeline.io import fsutil
from corpusforge.pipeline.registry import get_sink
from corpusforge.schemas import FATE_FORGOTTEN, Col

AUDITS_SQL = (
    "CREATE TABLE IF NOT EXISTS audits (audit_id VARCHAR, audited_at TIMESTAMP, status VARCHAR, "
    "problems BIGINT, first_problem VARCHAR, audited_by VARCHAR, files BIGINT)"
)


@dataclass
class Problem:
    file: str  # relative to the output folder ("lineage" for lineage-only problems)
    message: str


@dataclass
class AuditResult:
    ok: bool
    problems: list[Problem] = field(default_factory=list)
    files_checked: int = 0
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Ctx:
    layout: Layout
    con: duckdb.DuckDBPyConnection
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    forgotten: set[str] = field(default_factory=set)

    def fail(self, file: str, message: str) -> None:
        self.problems.append(Problem(file, message))


def audit(out_dir: str, record: bool = True) -> AuditResult:
    out_dir = layout_mod.normalize_out(out_dir)
    with layout_mod.lineage(out_dir) as con:
        ctx = _Ctx(layout_mod.load_layout(out_dir, con), con)
        ctx.forgotten = _forgotten_ids(con)
        check_checksums(ctx)
        check_unrecorded(ctx)
        check_traces(ctx)
        check_data_shards(ctx)
        check_token_shards(ctx)
        check_forgotten(ctx)
        summary = provenance.summary(con, out_dir)
    result = AuditResult(not ctx.problems, ctx.problems, ctx.files, summary)
    if record:
        _record(out_dir, result)
    return result


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def _forgotten_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    ids = {
        r[0] for r in _rows(con, "SELECT doc_id FROM documents WHERE fate = ?", [FATE_FORGOTTEN])
    }
    if "forgotten" in layout_mod.tables(con):
        ids |= {r[0] for r in _rows(con, "SELECT doc_id FROM forgotten")}
    return ids


def check_checksums(ctx: _Ctx) -> None:
    for _kind, path, checksum in _rows(ctx.con, "SELECT kind, path, checksum FROM outputs"):
        rel = ctx.layout.rel(path)
        url = ctx.layout.url(path)
        ctx.files += 1
        if not fsutil.exists(url):
            ctx.fail(rel, "missing (recorded in lineage outputs)")
        elif checksum and fsutil.file_checksum(url)[0] != checksum:
            ctx.fail(rel, "checksum differs from lineage (file changed since it was written)")


def _output_folders(layout: Layout) -> list[str]:
    folders = [fsutil.join(layout.out_dir, sub) for sub in OUTPUT_DIRS.values()]
    return folders + [spec.url for spec in layout.sinks.values()]


def check_unrecorded(ctx: _Ctx) -> None:
    recorded = {ctx.layout.rel(p) for (p,) in _rows(ctx.con, "SELECT path FROM outputs")}
    out = ctx.layout.out_dir.rstrip("/")
    for folder in _output_folders(ctx.layout):
        for url in fsutil.listdir(folder):
            rel = url[len(out) + 1 :].replace("\\", "/")
            if ".tmp" not in rel and rel not in recorded:
                ctx.fail(rel, "not recorded in lineage outputs (unknown provenance)")


def check_traces(ctx: _Ctx) -> None:
    """Kept documents come from recorded inputs and land once in the data output."""
    checks = {
        "kept documents from an input lineage has no checksum for": """
            SELECT count(*) FROM documents d LEFT JOIN inputs i ON i.path = d.source_path
            WHERE d.fate = 'kept' AND i.checksum IS NULL""",
        "kept documents without exactly one row in the data output": """
            SELECT count(*) FROM documents d
            LEFT JOIN (SELECT doc_id, count(*) AS n FROM doc_outputs WHERE output = 'data'
                       GROUP BY doc_id) o USING (doc_id)
            WHERE d.fate = 'kept' AND coalesce(o.n, 0) <> 1""",
        "doc_outputs rows of documents that are not kept": """
            SELECT count(*) FROM doc_outputs o LEFT JOIN documents d USING (doc_id)
            WHERE d.fate IS DISTINCT FROM 'kept'""",
    }
    if "doc_outputs" not in layout_mod.tables(ctx.con):
        return
    for message, sql in checks.items():
        n = _rows(ctx.con, sql)[0][0]
        if n:
            ctx.fail("lineage", f"{n} {message}")


def _index(ctx: _Ctx, output: str) -> dict[str, list[tuple[str, int, int]]]:
    """shard -> [(doc id, start, length)] in shard order, for one output."""
    by_shard: dict[str, list[tuple[str, int, int]]] = {}
    rows = _rows(
        ctx.con,
        "SELECT shard, doc_id, start, length FROM doc_outputs WHERE output = ? "
        "ORDER BY shard, start",
        [output],
    )
    for shard, doc_id, start, length in rows:
        by_shard.setdefault(shard, []).append((doc_id, start, length))
    return by_shard


def check_data_shards(ctx: _Ctx) -> None:
    if "doc_outputs" not in layout_mod.tables(ctx.con):
        return
    for shard, entries in _index(ctx, "data").items():
        url = ctx.layout.data_url(shard)
        rel = f"{OUTPUT_DIRS['kept']}/{shard}"
        if not fsutil.exists(url):
            continue  # reported as missing
        ids = read_table(url, [Col.ID]).column(Col.ID).to_pylist()
        if ids != [e[0] for e in entries] or [e[1] for e in entries] != list(range(len(ids))):
            ctx.fail(rel, "documents differ from lineage doc_outputs")


def check_token_shards(ctx: _Ctx) -> None:
    if "doc_outputs" not in layout_mod.tables(ctx.con):
        return
    for name, spec in ctx.layout.sinks.items():
        sink = get_sink(spec.kind)(spec.params)
        for shard, entries in _index(ctx, name).items():
            url = fsutil.join(spec.url, shard)
            rel = f"{spec.url[len(ctx.layout.out_dir.rstrip('/')) + 1 :]}/{shard}"
            if not all(fsutil.exists(fsutil.join(spec.url, f)) for f in sink.shard_files(shard)):
                ctx.fail(rel, "missing (named by lineage doc_outputs)")
                continue
            try:
                doc_ids, lengths = sink.shard_lengths(url)
            except NotImplementedError:
                continue
            except (ValueError, OSError) as exc:
                ctx.fail(rel, f"unreadable: {exc}")
                continue
            starts = [0]
            for n in lengths[:-1]:
                starts.append(starts[-1] + n)
            if (
                lengths != [e[2] for e in entries]
                or starts[: len(lengths)] != [e[1] for e in entries]
                or (doc_ids is not None and doc_ids != [e[0] for e in entries])
            ):
                ctx.fail(rel, "token counts or documents differ from lineage doc_outputs")


def check_forgotten(ctx: _Ctx) -> None:
    if not ctx.forgotten:
        return
    gone = pa.array(sorted(ctx.forgotten), pa.string())
    out = ctx.layout.out_dir.rstrip("/")
    folders = [*_output_folders(ctx.layout), *_phase_folders(ctx.layout)]
    for folder in folders:
        for url in fsutil.listdir(folder, ".parquet"):
            rel = url[len(out) + 1 :].replace("\\", "/")
            _check_file_forgotten(ctx, url, rel, gone)
    report = fsutil.join(ctx.layout.out_dir, "report.html")
    if fsutil.exists(report):
        page = fsutil.read_bytes(report).decode("utf-8", "replace")
        if any(doc_id in page for doc_id in ctx.forgotten):
            ctx.fail("report.html", "shows a forgotten document")
    _check_copies(ctx)


def _phase_folders(layout: Layout) -> list[str]:
    work = layout.work_url()
    return [fsutil.join(work, f"phase{i}") for i in checkpoints.phase_indices(work)]


def _check_file_forgotten(ctx: _Ctx, url: str, rel: str, gone: pa.Array) -> None:
    try:
        table = read_table(url)
    except Exception:  # a non-document Parquet file (an index) cannot hold one
        return
    id_col = Col.ID if Col.ID in table.column_names else "doc_id"
    if id_col not in table.column_names:
        return
    hit = pc.fill_null(pc.is_in(table.column(id_col), gone), False)
    if not pc.any(hit).as_py():
        return
    rows = table.filter(hit)
    scrubbed = (
        rel.startswith(f"{layout_mod.WORK_DIR}/phase0/")
        and Col.FATE in rows.column_names
        and pc.all(pc.equal(rows.column(Col.FATE), FATE_FORGOTTEN)).as_py()
        and (Col.TEXT not in rows.column_names or rows.column(Col.TEXT).null_count == len(rows))
    )
    if not scrubbed:
        ctx.fail(rel, f"holds {rows.num_rows} forgotten document(s)")


def _check_copies(ctx: _Ctx) -> None:
    """A kept document with the exact text of a forgotten one (forget takes copies too)."""
    if "forgotten" not in layout_mod.tables(ctx.con) or "doc_outputs" not in layout_mod.tables(
        ctx.con
    ):
        return
    rows = _rows(
        ctx.con,
        "SELECT o.shard, count(*) FROM documents d JOIN doc_outputs o USING (doc_id) "
        "WHERE o.output = 'data' AND d.fate = 'kept' AND d.text_hash IN "
        "(SELECT text_hash FROM forgotten) GROUP BY o.shard ORDER BY o.shard",
    )
    for shard, n in rows:
        ctx.fail(f"{OUTPUT_DIRS['kept']}/{shard}", f"keeps {n} copy(ies) of forgotten text")


def _record(out_dir: str, result: AuditResult) -> None:
    at = datetime.now(UTC).replace(tzinfo=None)
    first = f"{result.problems[0].file}: {result.problems[0].message}" if result.problems else None
    with layout_mod.lineage(out_dir, write=True) as con:
        con.execute(AUDITS_SQL)
        con.execute(
            "INSERT INTO audits VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                f"audit-{at.strftime('%Y%m%dT%H%M%S%f')}",
                at,
                "ok" if result.ok else "failed",
                len(result.problems),
                first,
                provenance.current_user(),
                result.files_checked,
            ],
        )


def to_json(result: AuditResult) -> str:
    return json.dumps(result.to_json(), indent=2, default=str)

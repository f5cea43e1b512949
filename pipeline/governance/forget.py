"""``corpusforge forget OUT``: take documents out of a finished output, in place.

1. select the documents (:mod:`.select`); a dry run stops here;
2. stage every affected file's new version (:mod:`.staging`): the output is untouched;
3. commit: move the staged files into place, then update lineage in one transaction
   (fates ``forgotten``, ``doc_outputs``, ``outputs`` checksums, input counts), mark the
   request done, mirror ``OUT/takedowns`` into lineage, rebuild the report.

Each commit step is idempotent, so a request killed at any point is finished by the next
``forget`` (or run) on the output, with the same result as an uninterrupted one.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.pipeline.governance import layout as layout_mod
from corpusforge.pipeline.governance import provenance, staging, takedowns
from corpusforge.pipeline.governance.checkpoints import FORGET_REASON, FORGET_STAGE
from corpusforge.pipeline.governance.select import Selection, Selectors, resolve
from corpusforge.pipeline.io import fsutil
from corpusforge.schemas import FATE_FORGOTTEN

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_REASON = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass
class ForgetResult:
    request_id: str | None
    dry_run: bool
    documents: int
    counts: dict[str, int] = field(default_factory=dict)
    not_found: int = 0
    already_forgotten: int = 0
    skipped_quarantined: int = 0
    copies: int = 0  # taken out as exact copies of a named document's text
    resumed: list[str] = field(default_factory=list)  # interrupted requests finished first
    shards: list[str] = field(default_factory=list)  # dry run: files that would be rewritten


def forget(
    out_dir: str,
    selectors: Selectors,
    *,
    reason: str = "takedown",
    request_id: str | None = None,
    requested_by: str | None = None,
    dry_run: bool = False,
) -> ForgetResult:
    out_dir = layout_mod.normalize_out(out_dir)
    if not _REASON.match(reason):
        raise ConfigError(f"--reason {reason!r}: a short code (letters, digits, _ . : -)")
    if request_id is not None and not _REQUEST_ID.match(request_id):
        raise ConfigError(f"--request-id {request_id!r}: letters, digits, . _ - (64 at most)")
    resumed = [] if dry_run else finish_pending(out_dir)
    with layout_mod.lineage(out_dir) as con:
        layout = layout_mod.load_layout(out_dir, con)
        sel = resolve(con, selectors, out_dir, layout.work_url())
        rid = request_id or _derive_id(selectors, reason, sel.docs)
        result = _result(rid, dry_run, sel, resumed)
        if dry_run:
            result.shards = _affected_shards(con, sel.docs)
            return result
        if sel.docs.num_rows == 0:  # nothing (left) to take out: no request to record
            result.request_id = None
            return result
        if any(m["request_id"] == rid for m in takedowns.requests(out_dir)):
            if request_id is not None and sel.docs.num_rows:
                raise ConfigError(f"request id {rid} was used by an earlier request")
            return result  # the same request, finished earlier: nothing left to do
        manifest = _manifest(rid, selectors, reason, requested_by, sel)
        takedowns.write_manifest(out_dir, manifest)
        st = staging.Staging(rid, layout, con, sel.docs.column("doc_id").combine_chunks())
        staging.stage_request(st, sel.docs)
    commit(out_dir, rid)
    done = next(m for m in takedowns.requests(out_dir) if m["request_id"] == rid)
    result.counts = done["counts"]
    return result


def _result(rid: str, dry_run: bool, sel: Selection, resumed: list[str]) -> ForgetResult:
    fates = sel.docs.column("fate")
    return ForgetResult(
        request_id=rid,
        dry_run=dry_run,
        documents=sel.docs.num_rows,
        counts={
            "kept": int(pc.sum(pc.equal(fates, "kept")).as_py() or 0),
            "rejected": int(pc.sum(pc.equal(fates, "rejected")).as_py() or 0),
        },
        not_found=sel.not_found,
        already_forgotten=sel.already,
        skipped_quarantined=sel.skipped_quarantined,
        copies=sel.copies,
        resumed=resumed,
    )


def _derive_id(sel: Selectors, reason: str, docs: pa.Table) -> str:
    """The same request on the same documents gets the same id (a re-run resumes it)."""
    key = json.dumps(
        {"selectors": sel.fingerprint(), "reason": reason, "docs": docs["doc_id"].to_pylist()},
        sort_keys=True,
    )
    return "tk-" + xxhash.xxh64_hexdigest(key.encode())[:12]


def _manifest(
    rid: str, sel: Selectors, reason: str, requested_by: str | None, found: Selection
) -> dict[str, Any]:
    return {
        "request_id": rid,
        "status": takedowns.STATUS_STAGING,
        "requested_by": requested_by or provenance.current_user(),
        "host": socket.gethostname(),
        "created_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
        "finished_at": None,
        "reason": reason,
        "selector_kinds": sel.kinds(),
        "selectors": sel.fingerprint(),
        "counts": {"documents": found.docs.num_rows, "not_found": found.not_found},
    }


def _affected_shards(con: duckdb.DuckDBPyConnection, docs: pa.Table) -> list[str]:
    if "doc_outputs" not in layout_mod.tables(con):
        return []
    con.register("_dry", docs.select(["doc_id"]))
    try:
        rows = con.execute(
            "SELECT DISTINCT output || ':' || shard FROM doc_outputs JOIN _dry USING (doc_id) "
            "ORDER BY 1"
        ).fetchall()
    finally:
        con.unregister("_dry")
    return [r[0] for r in rows]


# ---------------------------------------------------------------------- commit


def finish_pending(out_dir: str) -> list[str]:
    """Finish requests a crash interrupted after staging; drop those interrupted before."""
    finished = []
    for m in takedowns.requests(out_dir):
        if m["status"] == takedowns.STATUS_DONE:
            continue
        rid = m["request_id"]
        root = takedowns.staging_url(out_dir, rid)
        if fsutil.exists(fsutil.join(root, staging.STAGED)):
            commit(out_dir, rid)
            finished.append(rid)
        else:  # staged partly: the output is untouched, the request never happened
            fsutil.remove(root, recursive=True)
            fsutil.remove(takedowns.docs_url(out_dir, rid))
            fsutil.remove(takedowns.manifest_url(out_dir, rid))
    return finished


def commit(out_dir: str, rid: str) -> None:
    root = takedowns.staging_url(out_dir, rid)
    marker = json.loads(fsutil.read_bytes(fsutil.join(root, staging.STAGED)))
    manifest = next(m for m in takedowns.requests(out_dir) if m["request_id"] == rid)
    if manifest["status"] == takedowns.STATUS_STAGING:
        takedowns.write_manifest(out_dir, {**manifest, "status": takedowns.STATUS_COMMITTING})
    for rel in marker["moves"]:
        _move(fsutil.join(root, *rel.split("/")), fsutil.join(out_dir, *rel.split("/")))
    for rel in marker.get("deletes", []):
        fsutil.remove(fsutil.join(out_dir, *rel.split("/")))
    with layout_mod.lineage(out_dir, write=True) as con:
        update_lineage(con, out_dir, rid, root, marker["outputs"], marker.get("removed", []))
        counts = {**manifest.get("counts", {}), **marker["counts"]}
        counts.update(_fate_counts(out_dir, rid))
        takedowns.write_manifest(
            out_dir,
            {
                **manifest,
                "status": takedowns.STATUS_DONE,
                "counts": counts,
                "finished_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
            },
        )
        takedowns.sync_lineage(con, out_dir)
    fsutil.remove(root, recursive=True)
    _refresh_report(out_dir)


def _move(src: str, dst: str) -> None:
    """Rename ``src`` over ``dst``; a move done before a crash is not redone."""
    fs, spath = fsutil.get_fs(src)
    if not fs.exists(spath):
        return
    _, dpath = fsutil.get_fs(dst)
    if fsutil.is_remote(src):
        fs.mv(spath, dpath)
    else:
        import os

        os.replace(spath, dpath)


def _fate_counts(out_dir: str, rid: str) -> dict[str, int]:
    docs = fsutil.read_parquet(takedowns.docs_url(out_dir, rid))
    fates = docs.column("prior_fate")
    return {
        "kept": int(pc.sum(pc.equal(fates, "kept")).as_py() or 0),
        "rejected": int(pc.sum(pc.equal(fates, "rejected")).as_py() or 0),
    }


def update_lineage(
    con: duckdb.DuckDBPyConnection,
    out_dir: str,
    rid: str,
    root: str,
    outputs: list[dict[str, Any]],
    removed: list[str],
) -> None:
    """One transaction; running it twice gives the same lineage."""
    gone = fsutil.read_parquet(takedowns.docs_url(out_dir, rid)).select(["doc_id"])
    lineage_dir = fsutil.join(root, staging.LINEAGE_DIR)
    new_rows = fsutil.read_parquet(fsutil.join(lineage_dir, "doc_outputs.parquet"))
    replaced = fsutil.read_parquet(fsutil.join(lineage_dir, "replaced.parquet"))
    con.register("_gone", gone)
    con.register("_new_rows", new_rows)
    con.register("_replaced", replaced)
    con.register("_outputs", pa.Table.from_pylist(outputs) if outputs else pa.table({"path": []}))
    con.execute("BEGIN TRANSACTION")
    con.execute(
        "UPDATE documents SET fate = ?, stage = ?, reason = ?, detail = ? "
        "WHERE doc_id IN (SELECT doc_id FROM _gone)",
        [FATE_FORGOTTEN, FORGET_STAGE, FORGET_REASON, rid],
    )
    if "doc_outputs" in layout_mod.tables(con):
        con.execute("DELETE FROM doc_outputs WHERE doc_id IN (SELECT doc_id FROM _gone)")
        con.execute(
            "DELETE FROM doc_outputs USING _replaced r "
            "WHERE doc_outputs.output = r.output AND doc_outputs.shard = r.shard"
        )
        con.execute(
            "INSERT INTO doc_outputs SELECT doc_id, output, shard, start, length FROM _new_rows"
        )
    for path in removed:
        con.execute("DELETE FROM outputs WHERE path = ?", [path])
    if outputs:
        con.execute(
            "UPDATE outputs SET rows = o.rows, bytes = o.bytes, checksum = o.checksum "
            "FROM _outputs o WHERE outputs.path = o.path"
        )
    con.execute(
        """UPDATE inputs SET kept = f.kept, rejected = f.rejected, quarantined = f.quarantined
        FROM (SELECT source_path, count(*) FILTER (WHERE fate = 'kept') AS kept,
                     count(*) FILTER (WHERE fate = 'rejected') AS rejected,
                     count(*) FILTER (WHERE fate = 'quarantined') AS quarantined
              FROM documents GROUP BY source_path) f
        WHERE f.source_path = inputs.path"""
    )
    con.execute("COMMIT")
    for name in ("_gone", "_new_rows", "_replaced", "_outputs"):
        con.unregister(name)


def _refresh_report(out_dir: str) -> None:
    """The report shows rejected samples: rebuild it without the forgotten documents."""
    from corpusforge.pipeline import report

    page = fsutil.join(out_dir, report.REPORT_FILE)
    if not fsutil.exists(page):
        return
    report.write_report(out_dir)
    checksum, size = fsutil.file_checksum(page)
    with layout_mod.lineage(out_dir, write=True) as con:
        con.execute(
            "UPDATE outputs SET bytes = ?, checksum = ? WHERE kind = 'report'", [size, checksum]
        )

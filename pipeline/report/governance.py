"""The report's "Governance" section: takedowns applied to the output and the last audit."""

from __future__ import annotations

from typing import Any

from corpusforge.pipeline.api.report import (
    ReportKit,
    ReportQuery,
    ReportSection,
    register_report_section,
)


def governance_data(q: ReportQuery) -> dict[str, Any]:
    takedowns = []
    if "takedowns" in q.tables:
        takedowns = q.rows(
            "SELECT request_id, status, requested_by, CAST(created_at AS VARCHAR) AS created_at, "
            "reason, selector_kinds, documents, kept, rejected, data_shards, token_shards "
            "FROM takedowns ORDER BY created_at"
        )
    audit = None
    if "audits" in q.tables:
        found = q.rows(
            "SELECT CAST(audited_at AS VARCHAR) AS at, status, problems, first_problem, "
            "audited_by, files FROM audits ORDER BY audited_at DESC LIMIT 1"
        )
        audit = found[0] if found else None
    return {"takedowns": takedowns, "last_audit": audit}


def governance_html(data: dict[str, Any], kit: ReportKit) -> str:
    audit = data.get("last_audit")
    if audit is None:
        audit_html = kit.absent("Not audited yet: run `corpusforge audit OUT`.")
    else:
        audit_html = kit.table(
            ["last audit", "status", "files checked", "problems", "first problem", "by"],
            [
                [
                    audit["at"],
                    audit["status"],
                    audit["files"],
                    audit["problems"],
                    audit["first_problem"] or "",
                    audit["audited_by"],
                ]
            ],
        )
    rows = data.get("takedowns") or []
    if not rows:
        return audit_html + kit.absent("No takedowns: nothing was forgotten from this output.")
    table = kit.table(
        ["request", "status", "by", "at", "reason", "selectors", "documents", "kept", "rejected"],
        [
            [
                r["request_id"],
                r["status"],
                r["requested_by"],
                r["created_at"],
                r["reason"],
                r["selector_kinds"],
                r["documents"],
                r["kept"],
                r["rejected"],
            ]
            for r in rows
        ],
    )
    return audit_html + table


def governance_highlight(data: dict[str, Any]) -> str | None:
    n = len((data or {}).get("takedowns") or [])
    return f"governance: {n} takedown request(s) applied" if n else None


register_report_section(
    ReportSection(
        "governance",
        "Governance",
        governance_data,
        governance_html,
        order=95,
        highlight=governance_highlight,
    )
)

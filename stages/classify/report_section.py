"""The report's "Languages" section: documents kept and rejected per detected language."""

from __future__ import annotations

from typing import Any

from corpusforge.pipeline.api import ReportKit, ReportQuery, ReportSection, register_report_section
from corpusforge.schemas import LANGUAGE


def languages_data(q: ReportQuery) -> list[dict[str, Any]] | None:
    if LANGUAGE not in q.columns:
        return None
    rows = q.rows(
        f"SELECT CAST({LANGUAGE} AS VARCHAR) AS language, "
        "count(*) FILTER (WHERE fate = 'kept') AS kept, "
        "count(*) FILTER (WHERE fate = 'rejected') AS rejected, "
        "coalesce(sum(n_bytes) FILTER (WHERE fate = 'kept'), 0) AS kept_bytes "
        f"FROM documents WHERE {LANGUAGE} IS NOT NULL GROUP BY 1 "
        "ORDER BY kept DESC, rejected DESC"
    )
    return rows or None


def languages_html(rows: list[dict[str, Any]] | None, kit: ReportKit) -> str:
    if not rows:
        return kit.absent("No language column in this run (add the langid stage).")
    table = kit.table(
        ["language", "kept", "rejected", "MB kept"],
        [[r["language"], r["kept"], r["rejected"], kit.mb(r["kept_bytes"])] for r in rows[:20]],
    )
    chart = kit.fates_chart("languages", rows[:20], "language", "languages")
    return f'<div class="grid">{chart}{table}</div>'


def _highlight(rows: list[dict[str, Any]] | None) -> str | None:
    kept = sum(r["kept"] for r in rows or []) or 1
    top = sorted(rows or [], key=lambda r: -r["kept"])[:4]
    if not top:
        return None
    return "languages (kept): " + ", ".join(f"{r['language']} {r['kept'] / kept:.0%}" for r in top)


register_report_section(
    ReportSection(
        "languages",
        "Languages",
        languages_data,
        languages_html,
        order=25,
        highlight=_highlight,
    )
)

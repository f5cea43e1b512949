"""The report's "PII" section: entities found per type, and documents holding them."""

from __future__ import annotations

import re
from typing import Any

from corpusforge.pipeline.api import ReportKit, ReportQuery, ReportSection, register_report_section
from corpusforge.stages.pii.stage import TOTAL_COLUMN

# per-type count columns the pii stage adds: pii_<type>_count
COUNT_COLUMN = re.compile(r"^pii_(.+)_count$")
_NUMERIC = ("INT", "FLOAT", "DOUBLE", "DECIMAL")


def pii_data(q: ReportQuery) -> list[dict[str, Any]] | None:
    types = sorted(
        c
        for c, kind in q.columns.items()
        if COUNT_COLUMN.match(c) and any(t in kind.upper() for t in _NUMERIC)
    )
    if not types:
        return None
    select = ", ".join(
        f'coalesce(sum("{c}"), 0) AS "n_{c}", count(*) FILTER (WHERE "{c}" > 0) AS "d_{c}"'
        for c in types
    )
    row = q.rows(f"SELECT {select} FROM documents")[0]
    return [
        {
            "type": COUNT_COLUMN.match(c).group(1),  # type: ignore[union-attr]
            "entities": int(row["n_" + c]),
            "documents": int(row["d_" + c]),
        }
        for c in types
    ]


def pii_html(rows: list[dict[str, Any]] | None, kit: ReportKit) -> str:
    if not rows:
        return kit.absent("No PII counts in this run (add the pii stage).")
    table = kit.table(
        ["type", "entities", "documents"],
        [[r["type"], r["entities"], r["documents"]] for r in rows],
    )
    chart = kit.bar_chart(
        "pii", rows, "entities", "type", "PII entities by type", horizontal=True, color="#9a60b4"
    )
    return f'<div class="grid">{chart}{table}</div>'


register_report_section(
    ReportSection(
        "pii",
        "PII",
        pii_data,
        pii_html,
        columns=(TOTAL_COLUMN,),
        column_pattern=COUNT_COLUMN.pattern,
        order=45,
        highlight=lambda rows: (
            rows and "PII entities: " + ", ".join(f"{r['type']} {r['entities']:,}" for r in rows)
        ),
    )
)

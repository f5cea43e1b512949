"""The report's "Duplicates" section: cluster sizes and the share removed by each dedup step."""

from __future__ import annotations

from typing import Any

from corpusforge.pipeline.api import ReportKit, ReportQuery, ReportSection, register_report_section
from corpusforge.stages.dedup.keep import CLUSTER_COLUMN, SIZE_COLUMN

DEDUP_KINDS = ("exact_dedup", "near_dedup")


def dedup_data(q: ReportQuery) -> dict[str, Any] | None:
    if CLUSTER_COLUMN not in q.columns and SIZE_COLUMN not in q.columns:
        return None
    if CLUSTER_COLUMN in q.columns:
        # a cluster's size is the recorded one where there is one: a later dedup stage
        # rewrites the keeper's cluster columns, so lineage may hold only the removed members
        size = f"max({SIZE_COLUMN})" if SIZE_COLUMN in q.columns else "count(*)"
        sizes = q.rows(
            f"SELECT size, count(*) AS clusters FROM (SELECT {CLUSTER_COLUMN}, "
            f"greatest({size}, count(*)) AS size FROM documents "
            f"WHERE {CLUSTER_COLUMN} IS NOT NULL GROUP BY 1) "
            "WHERE size > 1 GROUP BY 1 ORDER BY 1"
        )
    else:
        # one row per member: a cluster of size s contributes s rows
        sizes = q.rows(
            f"SELECT {SIZE_COLUMN} AS size, count(*) // {SIZE_COLUMN} AS clusters "
            f"FROM documents WHERE {SIZE_COLUMN} > 1 GROUP BY 1 ORDER BY 1"
        )
    steps = _dedup_steps(q.funnel)
    removed = sum(s["removed"] for s in steps)
    entering = steps[0]["docs_in"] if steps else 0
    return {
        "cluster_sizes": sizes,
        "clusters": sum(r["clusters"] for r in sizes),
        "docs_in_clusters": sum(r["clusters"] * r["size"] for r in sizes),
        "steps": steps,
        "removed": removed,
        "rate": removed / entering if entering else 0.0,
    }


def _dedup_steps(funnel: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps that are dedup stages or reject duplicates; rate is removed / entering."""
    steps = []
    for step in funnel:
        removed = sum(v["docs"] for k, v in step["reasons"].items() if "duplicate" in k)
        if removed or step.get("kind") in DEDUP_KINDS:
            steps.append(
                {
                    "stage": step["stage"],
                    "docs_in": step["docs_in"],
                    "removed": removed,
                    "rate": removed / step["docs_in"] if step["docs_in"] else 0.0,
                }
            )
    return steps


def dedup_html(dd: dict[str, Any] | None, kit: ReportKit) -> str:
    if not dd:
        return kit.absent("No deduplication in this run (no duplicate-cluster column).")
    steps = kit.table(
        ["stage", "docs in", "removed", "rate"],
        [
            [s["stage"], s["docs_in"], s["removed"], kit.percent(s["removed"], s["docs_in"])]
            for s in dd["steps"]
        ],
    )
    summary = (
        f"<p>{kit.number(dd['clusters'])} duplicate clusters hold "
        f"{kit.number(dd['docs_in_clusters'])} documents; {kit.number(dd['removed'])} removed, "
        f"a dedup rate of <b>{100 * dd['rate']:.2f}%</b>.</p>"
    )
    chart = kit.bar_chart(
        "dup_clusters",
        dd["cluster_sizes"],
        "size",
        "clusters",
        "duplicate clusters by size",
        color="#5470c6",
    )
    return f'{summary}<div class="grid">{chart}{steps}</div>'


def _highlight(dd: dict[str, Any]) -> str:
    return f"duplicates: {dd['removed']:,} removed ({dd['rate']:.1%}), {dd['clusters']:,} clusters"


register_report_section(
    ReportSection(
        "dedup",
        "Duplicates",
        dedup_data,
        dedup_html,
        columns=(CLUSTER_COLUMN, SIZE_COLUMN),
        order=40,
        highlight=lambda dd: dd and _highlight(dd),
    )
)

"""The report's "Token shards" section: documents and tokens per shard of each token sink."""

from __future__ import annotations

from typing import Any

from corpusforge.pipeline.api import ReportKit, ReportQuery, ReportSection, register_report_section


def shards_data(q: ReportQuery) -> list[dict[str, Any]] | None:
    if "doc_outputs" not in q.tables:
        return None
    # sinks index token ranges (start, length in tokens); the Parquet data output indexes rows
    rows = q.rows(
        "SELECT output, shard, count(*) AS docs, sum(length) AS tokens FROM doc_outputs "
        "WHERE output <> 'data' GROUP BY ALL ORDER BY output, shard"
    )
    return rows or None


def shards_html(rows: list[dict[str, Any]] | None, kit: ReportKit) -> str:
    if not rows:
        return kit.absent("No token shards in this run (add a token sink).")
    chart = kit.bar_chart(
        "token_shards", rows, "shard", "tokens", "tokens per shard", color="output"
    )
    table = kit.table(
        ["output", "shard", "documents", "tokens"],
        [[r["output"], r["shard"], r["docs"], r["tokens"]] for r in rows[:50]],
    )
    return f'<div class="grid">{chart}{table}</div>'


register_report_section(
    ReportSection("token_shards", "Token shards", shards_data, shards_html, order=65)
)

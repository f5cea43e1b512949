"""The report's "Tokens" section: tokens per document and tokens kept."""

from __future__ import annotations

from typing import Any

from corpusforge.pipeline.api import ReportKit, ReportQuery, ReportSection, register_report_section
from corpusforge.stages.tokenize.stage import N_TOKENS


def tokens_data(q: ReportQuery) -> dict[str, Any] | None:
    if N_TOKENS not in q.columns:
        return None
    return {
        "histogram": q.histogram(N_TOKENS, log=True),
        "kept_tokens": q.scalar(f"SELECT sum({N_TOKENS}) FROM documents WHERE fate = 'kept'"),
    }


def tokens_html(data: dict[str, Any] | None, kit: ReportKit) -> str:
    if not data:
        return kit.absent("No token counts in this run (add the tokenize stage).")
    kept = f"<p>{kit.number(data['kept_tokens'] or 0)} tokens in the kept documents.</p>"
    chart = kit.histogram_chart("length:n_tokens", data["histogram"], "tokens per document")
    return f'{kept}<div class="grid">{chart}</div>'


register_report_section(
    ReportSection(
        "tokens",
        "Tokens",
        tokens_data,
        tokens_html,
        columns=(N_TOKENS,),
        order=55,
        highlight=lambda d: d and f"tokens kept: {d['kept_tokens'] or 0:,}",
    )
)

"""The report's "Tokens" section: tokens per document, tokens kept, and where tokenize ran.

The device table reads this run's ``stage_stats`` rows of the tokenize stage: MB/s per
worker-second, and the figures the stage reported itself (``metrics``: NVML busy % and peak
memory of each worker's GPU). A CPU run has no GPU figures and the table says "CPU"; a lineage
file from before these columns gets no device table at all.
"""

from __future__ import annotations

import json
from typing import Any

from corpusforge.pipeline.api import ReportKit, ReportQuery, ReportSection, register_report_section
from corpusforge.stages.tokenize.stage import N_TOKENS

STAGE_KIND = "tokenize"


def device_rows(q: ReportQuery) -> list[dict[str, Any]] | None:
    """Per tokenize stage of the latest run: MB/s and GPU figures (None on old lineage)."""
    if "stage_stats" not in q.tables:
        return None
    cols = {
        r["column_name"]
        for r in q.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'stage_stats'"
        )
    }
    if not {"mb_per_s", "metrics"} <= cols:
        return None
    rows = q.rows(
        "SELECT stage, mb_per_s, metrics FROM stage_stats "
        f"WHERE kind = '{STAGE_KIND}' AND run_id = "
        "(SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1) ORDER BY position"
    )
    for r in rows:
        m = r.pop("metrics")
        m = json.loads(m) if isinstance(m, str) else (m or {})
        r["device"] = "GPU" if m.get("on_gpu") else "CPU"
        r["gpu_busy_pct"] = m.get("gpu_busy_pct")
        r["gpu_busy_max_pct"] = m.get("gpu_busy_max_pct")
        r["gpu_mem_peak_gb"] = m.get("gpu_mem_peak_gb")
    return rows


def tokens_data(q: ReportQuery) -> dict[str, Any] | None:
    if N_TOKENS not in q.columns:
        return None
    return {
        "histogram": q.histogram(N_TOKENS, log=True),
        "kept_tokens": q.scalar(f"SELECT sum({N_TOKENS}) FROM documents WHERE fate = 'kept'"),
        "devices": device_rows(q),
    }


def devices_html(rows: list[dict[str, Any]] | None, kit: ReportKit) -> str:
    if not rows:
        return ""
    table = kit.table(
        [
            "stage",
            "device",
            "MB/s per worker",
            "GPU busy % (mean)",
            "GPU busy % (max)",
            "GPU memory peak (GB)",
        ],
        [
            [
                r["stage"],
                r["device"],
                r["mb_per_s"],
                r["gpu_busy_pct"],
                r["gpu_busy_max_pct"],
                r["gpu_mem_peak_gb"],
            ]
            for r in rows
        ],
    )
    notes = []
    if any(r["device"] == "GPU" for r in rows):
        notes.append(
            "GPU figures are NVML's (utilization.gpu: the share of time a kernel ran), sampled "
            "every 50 ms on each worker's GPU while it held it, time waiting for input "
            "included; blank where NVML was not available."
        )
    else:
        notes.append("Tokenized on the CPU: no GPU figures.")
    notes.append("MB/s: text bytes in per second of the stage's work, summed over workers.")
    return f'<p class="note">{kit.text(" ".join(notes))}</p>{table}'


def tokens_html(data: dict[str, Any] | None, kit: ReportKit) -> str:
    if not data:
        return kit.absent("No token counts in this run (add the tokenize stage).")
    kept = f"<p>{kit.number(data['kept_tokens'] or 0)} tokens in the kept documents.</p>"
    chart = kit.histogram_chart("length:n_tokens", data["histogram"], "tokens per document")
    return f'{kept}<div class="grid">{chart}</div>{devices_html(data.get("devices"), kit)}'


def tokens_highlight(data: dict[str, Any] | None) -> str | None:
    if not data:
        return None
    line = f"tokens kept: {data['kept_tokens'] or 0:,}"
    busy = [r["gpu_busy_pct"] for r in data.get("devices") or [] if r["gpu_busy_pct"] is not None]
    if busy:
        line += f" (GPU busy {max(busy):.0f}%)"
    return line


register_report_section(
    ReportSection(
        "tokens",
        "Tokens",
        tokens_data,
        tokens_html,
        columns=(N_TOKENS,),
        order=55,
        highlight=tokens_highlight,
    )
)

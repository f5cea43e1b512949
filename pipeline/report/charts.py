"""Vega-Lite charts (Altair) of the report's sections, rendered to static SVG offline.

``vl-convert-python`` bundles the Vega renderer, so the SVG is made here and inlined in the
page: the report needs no JavaScript and no network to be viewed. Each function takes a
section of ``report_data`` and returns an Altair chart, or None when there is nothing to draw.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import vl_convert as vlc

KEPT_COLOR = "#3a8f5c"
REJECTED_COLOR = "#d9822b"
FATE_SCALE = alt.Scale(domain=["kept", "rejected"], range=[KEPT_COLOR, REJECTED_COLOR])
STEP_SCALE = alt.Scale(domain=["passed", "removed"], range=[KEPT_COLOR, REJECTED_COLOR])
REASON_SCALE = alt.Scale(domain=["rejected", "quarantined"], range=[REJECTED_COLOR, "#c23b3b"])
WIDTH = 420
MAX_BARS = 30


def to_svg(chart: alt.TopLevelMixin) -> str:
    """Render offline (no data URLs, no remote fonts) to an SVG string."""
    return vlc.vegalite_to_svg(chart.to_dict())


def _fate_rows(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        for fate in ("kept", "rejected"):
            out.append({key: r[key], "fate": fate, "docs": r.get(fate, 0) or 0})
    return out


def funnel(steps: list[dict[str, Any]]) -> alt.Chart | None:
    """Documents leaving each step: passed on vs rejected there, in pipeline order."""
    if not steps:
        return None
    rows = []
    for i, s in enumerate(steps):
        label = f"{i}. {s['stage']}"
        rows.append({"step": label, "fate": "passed", "docs": s["docs_out"]})
        rows.append({"step": label, "fate": "removed", "docs": s["rejected"]})
    order = [f"{i}. {s['stage']}" for i, s in enumerate(steps)]
    return (
        alt.Chart(alt.Data(values=rows), width=WIDTH, title="documents through each step")
        .mark_bar()
        .encode(
            y=alt.Y("step:N", sort=order, title=None),
            x=alt.X("docs:Q", title="documents", stack="zero"),
            color=alt.Color("fate:N", scale=STEP_SCALE, title=None),
            order=alt.Order("fate:N", sort="ascending"),
            tooltip=["step:N", "fate:N", "docs:Q"],
        )
    )


def reasons(steps: list[dict[str, Any]]) -> alt.Chart | None:
    rows = [
        {"reason": f"{s['stage']}: {reason}", "docs": v["docs"], "fate": v.get("fate")}
        for s in steps
        for reason, v in s["reasons"].items()
    ]
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: -r["docs"])[:MAX_BARS]
    return (
        alt.Chart(alt.Data(values=rows), width=WIDTH, title="rejected and quarantined, by reason")
        .mark_bar()
        .encode(
            y=alt.Y("reason:N", sort="-x", title=None),
            x=alt.X("docs:Q", title="documents"),
            color=alt.Color("fate:N", scale=REASON_SCALE, title=None),
            tooltip=["reason:N", "fate:N", "docs:Q"],
        )
    )


def fates_by(rows: list[dict[str, Any]] | None, key: str, title: str) -> alt.Chart | None:
    """Kept and rejected documents per value of ``key``, stacked, largest first."""
    if not rows:
        return None
    order = [r[key] for r in rows]
    return (
        alt.Chart(alt.Data(values=_fate_rows(rows, key)), width=WIDTH, title=title)
        .mark_bar()
        .encode(
            y=alt.Y(f"{key}:N", sort=order, title=None),
            x=alt.X("docs:Q", title="documents", stack="zero"),
            color=alt.Color("fate:N", scale=FATE_SCALE, title=None),
            tooltip=[f"{key}:N", "fate:N", "docs:Q"],
        )
    )


def histogram(hist: dict[str, Any] | None, title: str) -> alt.Chart | None:
    """Kept and rejected counts per bin, stacked; log-scaled x for lengths."""
    if not hist or not hist.get("bins"):
        return None
    rows = []
    for b in hist["bins"]:
        for fate in ("kept", "rejected"):
            rows.append({"start": b["start"], "end": b["end"], "fate": fate, "docs": b[fate]})
    scale = alt.Scale(type="log") if hist.get("log") else alt.Scale(zero=False)
    return (
        alt.Chart(alt.Data(values=rows), width=WIDTH, height=160, title=title)
        .mark_bar()
        .encode(
            x=alt.X("start:Q", bin="binned", scale=scale, title=hist["column"]),
            x2="end:Q",
            y=alt.Y("docs:Q", title="documents", stack="zero"),
            color=alt.Color("fate:N", scale=FATE_SCALE, title=None),
            tooltip=["start:Q", "end:Q", "fate:N", "docs:Q"],
        )
    )


def bars(
    rows: list[dict[str, Any]] | None,
    x: str,
    y: str,
    title: str,
    *,
    horizontal: bool = False,
    color: str | None = None,
) -> alt.Chart | None:
    """A bar per row: ``y`` against ``x`` (or across, with ``horizontal``). ``color`` is a
    colour (``#rrggbb``) or a field of the rows to colour by."""
    if not rows:
        return None
    if color and color.startswith("#"):
        chart, by = (
            alt.Chart(alt.Data(values=rows), width=WIDTH, title=title).mark_bar(color=color),
            None,
        )
    else:
        chart, by = alt.Chart(alt.Data(values=rows), width=WIDTH, title=title).mark_bar(), color
    category, value = (y, x) if horizontal else (x, y)
    cat = (
        alt.Y(f"{category}:N", sort="-x", title=None)
        if horizontal
        else alt.X(f"{category}:O", title=category, sort=None)
    )
    val = alt.X(f"{value}:Q", title=value) if horizontal else alt.Y(f"{value}:Q", title=value)
    tips = [f"{k}:{'Q' if isinstance(v, int | float) else 'N'}" for k, v in rows[0].items()]
    encoding: dict[str, Any] = {"tooltip": tips}
    encoding.update({"y": cat, "x": val} if horizontal else {"x": cat, "y": val})
    if by:
        encoding["color"] = alt.Color(f"{by}:N", title=by)
    return chart.encode(**encoding)


def stage_times(stages: list[dict[str, Any]]) -> alt.Chart | None:
    rows = [
        {"stage": s["stage"], "seconds": s["seconds"] or 0.0}
        for s in stages
        if s.get("seconds") is not None
    ]
    if not rows:
        return None
    return (
        alt.Chart(alt.Data(values=rows), width=WIDTH, title="worker seconds per stage (this run)")
        .mark_bar(color="#5470c6")
        .encode(
            y=alt.Y("stage:N", sort=None, title=None),
            x=alt.X("seconds:Q", title="seconds (summed over workers)"),
            tooltip=["stage:N", "seconds:Q"],
        )
    )

"""One self-contained HTML page from ``report_data`` (and optionally a second run to compare).

Charts are static SVG made by ``report_charts``; CSS is inline; there is no script and no
external reference, so the page opens offline and from an e-mail attachment alike. Every value
from the data is escaped (document ids and sample text can hold anything).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from typing import Any

from corpusforge.pipeline.api.report import ReportSection, report_sections

try:
    from corpusforge.pipeline.report import charts
except ImportError:  # altair / vl-convert come with the `report` extra; tables work without
    charts = None  # type: ignore[assignment]

NO_CHARTS = "charts need the report extra: pip install 'corpusforge[report]'"


class _NoCharts:
    """Stands in for ``charts`` without the extra: every chart is absent."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


if charts is None:
    charts = _NoCharts()  # type: ignore[assignment]

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2430;
background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header .meta{opacity:.8;font-size:13px;margin-top:4px}
main{padding:8px 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #e2e5ea;border-radius:8px;margin:16px 0;padding:12px 18px}
section h2{font-size:17px;margin:4px 0 10px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:10px 16px;min-width:130px}
.card .v{font-size:22px;font-weight:600}.card .l{font-size:12px;color:#5b6573}
.kept{color:#3a8f5c}.rejected{color:#d9822b}.quarantined{color:#c23b3b}
.grid{display:flex;flex-wrap:wrap;gap:18px}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:18px}
.cols>div{min-width:0;overflow-x:auto}.cols>div>h3{font-size:14px;margin:4px 0;color:#5b6573}
figure.chart{margin:0}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{padding:3px 10px;border-bottom:1px solid #eef0f3;text-align:right;vertical-align:top}
th{background:#f1f3f6}td.l,th.l{text-align:left}
.note{color:#5b6573;font-size:13px}.warn{color:#a04b00;font-size:13px}
.sample{font-family:ui-monospace,Menlo,monospace;font-size:12px;white-space:pre-wrap;
background:#f6f7f9;border-radius:4px;padding:6px 8px;margin:4px 0;max-width:1000px}
.up{color:#3a8f5c}.down{color:#c23b3b}
figure.chart svg{max-width:100%;height:auto}td{overflow-wrap:anywhere}
@media (max-width:1100px){.cols{grid-template-columns:1fr}main{padding:8px 12px 30px}}
.diff td{font-family:ui-monospace,Menlo,monospace;font-size:12px;text-align:left}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _n(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return _e(value)


def _mb(value: Any) -> str:
    """Megabytes with the digits a small corpus needs (0.042, not 0.0)."""
    if value is None:
        return ""
    mb = value / 1e6
    if mb == 0 or mb >= 10:
        return f"{mb:,.1f}"
    return f"{mb:.2f}" if mb >= 0.1 else f"{mb:.3f}"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _table(headers: list[str], rows: list[list[Any]], left: int = 1) -> str:
    head = "".join(
        f'<th class="{"l" if i < left else ""}">{_e(h)}</th>' for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            # text cells (left columns, pre-escaped HTML) align left, numbers right
            f'<td class="{"l" if i < left or isinstance(c, _Raw) else ""}">'
            f"{c if isinstance(c, _Raw) else _n(c)}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _chart(name: str, chart: Any) -> str:
    if chart is None:
        return ""
    return f'<figure class="chart" data-chart="{_e(name)}">{charts.to_svg(chart)}</figure>'


def _absent(what: str) -> str:
    return f'<p class="note">{_e(what)}</p>'


# ------------------------------------------------------------------ section bodies


def _overview(d: dict[str, Any]) -> str:
    t = d["totals"]
    cards = [
        ("records", t["records"], ""),
        ("kept", t["kept"], "kept"),
        ("rejected", t["rejected"], "rejected"),
        ("quarantined", t["quarantined"], "quarantined"),
        ("MB read", t["bytes"] / 1e6, ""),
        ("MB kept", t["kept_bytes"] / 1e6, "kept"),
        ("kept share", _pct(t["kept"], t["records"]), "kept"),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="v {cls}">{_n(v)}</div>'
            f'<div class="l">{_e(label)}</div></div>'
            for label, v, cls in cards
        )
        + "</div>"
    )


def _funnel(d: dict[str, Any]) -> str:
    rows = []
    for s in d["funnel"]:
        top = ", ".join(f"{r} {v['docs']:,}" for r, v in list(s["reasons"].items())[:4])
        rows.append(
            [
                s["stage"],
                s["docs_in"],
                s["docs_out"],
                s["rejected"],
                _pct(s["rejected"], s["docs_in"]),
                _mb(s["bytes_in"]),
                _mb(s["bytes_out"]),
                _Raw(_e(top)),
            ]
        )
    table = _table(
        ["step", "docs in", "passed", "removed", "removed %", "MB in", "MB out", "reasons"], rows
    )
    return (
        '<div class="grid">'
        + _chart("funnel", charts.funnel(d["funnel"]))
        + _chart("reasons", charts.reasons(d["funnel"]))
        + "</div>"
        + table
    )


def _signals(d: dict[str, Any]) -> str:
    signals = d.get("signals") or {}
    if not signals:
        return _absent("No numeric signal columns in this run (quality stages add them).")
    # a signal with one value everywhere has no distribution to draw (it would be one bar the
    # width of the chart): it is listed below the charts instead
    varying = {n: h for n, h in signals.items() if h["min"] != h["max"]}
    constant = [n for n in signals if n not in varying]
    figs = "".join(
        _chart(f"signal:{name}", charts.histogram(h, name)) for name, h in varying.items()
    )
    table = _table(
        ["signal", "documents", "min", "median", "mean", "max"],
        [[n, h["count"], h["min"], h["median"], h["mean"], h["max"]] for n, h in signals.items()],
    )
    note = ""
    if constant:
        note = (
            '<p class="note">The same value in every document (no chart): '
            + ", ".join(f"{_e(n)} = {_n(signals[n]['min'])}" for n in constant)
            + ".</p>"
        )
    return f'<div class="grid">{figs}</div>{note}{table}'


def _lengths(d: dict[str, Any]) -> str:
    lengths = d.get("lengths") or {}
    figs = _chart(
        "length:n_chars", charts.histogram(lengths.get("n_chars"), "document length (characters)")
    )
    figs += _chart(
        "length:n_bytes", charts.histogram(lengths.get("n_bytes"), "document size (bytes)")
    )
    if not figs:
        return _absent("No documents with a length (every record was quarantined).")
    return f'<div class="grid">{figs}</div>'


def _shards(d: dict[str, Any]) -> str:
    return _table(
        ["output", "files", "rows", "MB"],
        [[o["kind"], o["files"], o["rows"], _mb(o["bytes"])] for o in d.get("outputs") or []],
    )


def _stages(d: dict[str, Any]) -> str:
    rows = [
        [
            s["stage"],
            s["kind"],
            "all" if s["phase"] is None else s["phase"],
            s["docs_in"],
            s["docs_rejected"],
            _mb(s["bytes_in"]),
            s["seconds"],
            s["docs_per_s"],
            s["mb_per_s"],
        ]
        for s in d.get("stages") or []
    ]
    run = d.get("run") or {}
    note = (
        f'<p class="note">Counters of this run\'s work (units done by earlier runs are not '
        f"counted); seconds are summed over workers. Run wall time: {_n(run.get('seconds'))} s.</p>"
    )
    if not rows:
        return note + _absent("No stages configured (read only).")
    table = _table(
        ["stage", "kind", "phase", "docs in", "rejected", "MB in", "seconds", "docs/s", "MB/s"],
        rows,
        left=2,
    )
    return (
        note
        + '<div class="grid">'
        + _chart("stage_times", charts.stage_times(d["stages"]))
        + table
        + "</div>"
    )


def _inputs(d: dict[str, Any]) -> str:
    inp = d["inputs"]
    status = _table(
        ["status", "files", "records", "rejected", "quarantined", "MB"],
        [
            [
                s["status"],
                s["files"],
                s["records"],
                s["rejected"],
                s["quarantined"],
                _mb(s["bytes"]),
            ]
            for s in inp["by_status"]
        ],
    )
    files = _table(
        ["path", "status", "records", "rejected", "quarantined", "MB"],
        [
            [f["path"], f["status"], f["records"], f["rejected"], f["quarantined"], _mb(f["size"])]
            for f in inp["files"]
        ],
        left=2,
    )
    more = ""
    if inp["total_files"] > len(inp["files"]):
        more = _absent(
            f"{len(inp['files'])} of {inp['total_files']} files shown (quarantined first)."
        )
    return status + files + more


def _samples(d: dict[str, Any]) -> str:
    s = d.get("samples")
    if s is None:
        return _absent(
            "Samples are off for this run (output.report_samples: false or --no-samples)."
        )
    if s["pii_stage"]:
        note = (
            f'<p class="note">Text has been through the <b>{_e(s["pii_stage"])}</b> stage\'s '
            "redaction only for documents rejected after it; groups marked <i>not redacted</i> "
            f"hold original text. Each text is cut to {s['max_chars']} characters. Turn samples "
            "off for sensitive corpora with <code>output.report_samples: false</code>.</p>"
        )
    else:
        note = (
            '<p class="warn">No PII stage ran: samples show original text, cut to '
            f"{s['max_chars']} characters. Turn them off for sensitive corpora with "
            "<code>output.report_samples: false</code> or "
            "<code>corpusforge report --no-samples</code>.</p>"
        )
    if not s["groups"]:
        return note + _absent("No rejected documents with text.")
    parts = [note]
    for g in s["groups"]:
        tag = "redacted" if g["redacted"] else "not redacted"
        parts.append(
            f'<h3>{_e(g["stage"])}: {_e(g["reason"])} <span class="note">({tag})</span></h3>'
        )
        for doc in g["docs"]:
            more = f" … ({doc['chars']:,} chars)" if doc["truncated"] else ""
            parts.append(
                f'<div class="note">{_e(doc["id"])}</div>'
                f'<div class="sample">{_e(doc["text"])}{_e(more)}</div>'
            )
    return "".join(parts)


# The engine's own sections, by place on the page; stage families add theirs in between
# (see corpusforge.pipeline.api.report).
SECTIONS: list[tuple[int, str, str, Callable[[dict[str, Any]], str]]] = [
    (10, "overview", "Overview", _overview),
    (20, "funnel", "Funnel: documents and bytes through each step", _funnel),
    (30, "signals", "Signals, kept vs rejected", _signals),
    (50, "lengths", "Document length", _lengths),
    (60, "outputs", "Outputs", _shards),
    (70, "stages", "Stages: time and throughput", _stages),
    (80, "inputs", "Inputs", _inputs),
    (100, "samples", "Sample rejected documents", _samples),
]


class _Kit:
    """The :class:`~corpusforge.pipeline.api.ReportKit` handed to family sections."""

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
        return _table(list(headers), [list(r) for r in rows])

    def absent(self, message: str) -> str:
        return _absent(message)

    def text(self, value: Any) -> str:
        return _e(value)

    def number(self, value: Any) -> str:
        return _n(value)

    def mb(self, value: Any) -> str:
        return _mb(value)

    def percent(self, part: float, whole: float) -> str:
        return _pct(part, whole)

    def fates_chart(self, name: str, rows: list[dict[str, Any]], key: str, title: str) -> str:
        return _chart(name, charts.fates_by(rows, key, title))

    def bar_chart(
        self,
        name: str,
        rows: list[dict[str, Any]],
        x: str,
        y: str,
        title: str,
        *,
        horizontal: bool = False,
        color: str | None = None,
    ) -> str:
        return _chart(name, charts.bars(rows, x, y, title, horizontal=horizontal, color=color))

    def histogram_chart(self, name: str, hist: dict[str, Any] | None, title: str) -> str:
        return _chart(name, charts.histogram(hist, title))


def _all_sections() -> list[tuple[str, str, Callable[[dict[str, Any]], str]]]:
    kit = _Kit()
    family = [(s.order, s.key, s.title, _family_body(s, kit)) for s in report_sections()]
    return [(key, title, fn) for _, key, title, fn in sorted(SECTIONS + family)]


def _family_body(section: ReportSection, kit: _Kit) -> Callable[[dict[str, Any]], str]:
    return lambda d: section.html(d.get(section.key), kit)


def _delta_funnel(a: dict[str, Any], b: dict[str, Any]) -> str:
    """The two funnels side by side by step name, with the change in documents passed."""
    fa = {s["stage"]: s for s in a["funnel"]}
    fb = {s["stage"]: s for s in b["funnel"]}
    names = [s["stage"] for s in a["funnel"]] + [
        s["stage"] for s in b["funnel"] if s["stage"] not in fa
    ]
    rows = []
    for n in names:
        pa_, pb_ = fa.get(n, {}).get("docs_out"), fb.get(n, {}).get("docs_out")
        delta = "" if pa_ is None or pb_ is None else pb_ - pa_
        rows.append(
            [n, pa_, pb_, delta, fa.get(n, {}).get("rejected"), fb.get(n, {}).get("rejected")]
        )
    ta, tb = a["totals"], b["totals"]
    rows.append(
        [
            "kept (final)",
            ta["kept"],
            tb["kept"],
            tb["kept"] - ta["kept"],
            ta["rejected"],
            tb["rejected"],
        ]
    )
    return _table(["step", "passed A", "passed B", "B - A", "removed A", "removed B"], rows)


def _header(d: dict[str, Any], other: dict[str, Any] | None) -> str:
    def meta(x: dict[str, Any]) -> str:
        r = x.get("run") or {}
        return (
            f"{_e(r.get('name'))} · run {_e(r.get('run_id'))} · {_e(r.get('status'))} · "
            f"{_e(r.get('finished_at'))} · {_e(x.get('out_dir'))}"
        )

    title = "corpusforge data-quality report" + (" (comparison)" if other else "")
    lines = f'<div class="meta">{"A: " if other else ""}{meta(d)}</div>'
    if other:
        lines += f'<div class="meta">B: {meta(other)}</div>'
    if isinstance(charts, _NoCharts):
        lines += f'<div class="meta">{_e(NO_CHARTS)}</div>'
    return f"<header><h1>{title}</h1>{lines}</header>"


def flatten_config(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"output": {"path": "o"}, "stages": [...]}`` -> ``{"output.path": "o",
    "stages[0]...": ...}``: one entry per leaf, so two configs compare key by key."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for k, v in value.items():
            flat.update(flatten_config(v, f"{prefix}.{k}" if prefix else str(k)))
        return flat or {prefix: {}}
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        flat = {}
        for i, v in enumerate(value):
            flat.update(flatten_config(v, f"{prefix}[{i}]"))
        return flat
    return {prefix: value}


def config_diff(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[list[str]]:
    """[key, A, B] for every config value that differs (absent: "-")."""
    fa, fb = flatten_config(a or {}), flatten_config(b or {})
    missing = object()
    rows = []
    for key in sorted(set(fa) | set(fb)):
        va, vb = fa.get(key, missing), fb.get(key, missing)
        if va != vb:
            rows.append(
                [
                    key,
                    "-" if va is missing else json.dumps(va),
                    "-" if vb is missing else json.dumps(vb),
                ]
            )
    return rows


def _config_diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    ca, cb = (a.get("run") or {}).get("config"), (b.get("run") or {}).get("config")
    if ca is None or cb is None:
        return _absent("A run without a recorded config: nothing to compare.")
    rows = config_diff(ca, cb)
    if not rows:
        return '<p class="note">The two runs have the same configuration.</p>'
    return '<div class="diff">' + _table(["key", "A", "B"], rows, left=3) + "</div>"


def render_html(data: dict[str, Any], compare: dict[str, Any] | None = None) -> str:
    body = []
    if compare is not None:
        body.append(
            '<section id="compare"><h2>Funnel, A vs B</h2>'
            + _delta_funnel(data, compare)
            + "</section>"
        )
        body.append(
            '<section id="config-diff"><h2>Configuration, A vs B</h2>'
            + _config_diff(data, compare)
            + "</section>"
        )
    for key, title, fn in _all_sections():
        if compare is None:
            inner = fn(data)
        else:
            inner = (
                f'<div class="cols"><div><h3>A</h3>{fn(data)}</div>'
                f"<div><h3>B</h3>{fn(compare)}</div></div>"
            )
        body.append(f'<section id="{key}"><h2>{_e(title)}</h2>{inner}</section>')
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>corpusforge report</title><style>{CSS}</style></head><body>"
        + _header(data, compare)
        + "<main>"
        + "".join(body)
        + "</main></body></html>"
    )

"""The data-quality report: built for real runs, numbers equal to lineage, valid in edge cases."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
import report_helpers  # noqa: F401  (registers the stand-in stages and sink)
from engine_helpers import lineage_rows, write_lines
from typer.testing import CliRunner

from corpusforge.cli.main import app
from corpusforge.pipeline.engine.runner import Pipeline
from corpusforge.pipeline.report import report_data, write_report
from corpusforge.schemas import ENGINE_STEPS, OUTPUT_STEPS

GERMAN = "der Hund und die Katze ist nicht das Problem heute"
ENGLISH = "the quick brown fox jumps over the lazy dog again today"


def make_inputs(folder: Path) -> None:
    """Two files: English and German lines, duplicates, e-mails, digits-only and bad lines."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(2):
        rows = []
        for i in range(60):
            if i % 10 == 0:
                rows.append(f"1234 5678 9012 3456 7890 {i}")  # low alpha: rejected
            elif i % 7 == 0:
                rows.append(ENGLISH)  # exact duplicates across both files
            elif i % 3 == 0:
                rows.append(f"{GERMAN} nummer {k}{i} mail an jo{i}@example.org")
            elif i % 11 == 0:
                rows.append(f"tiny{i}")  # too few words
            else:
                rows.append(f"{ENGLISH} line {k} {i} write to ann{i}@corp.example.com")
        rows.insert(30, "!unreadable")
        write_lines(folder / f"part{k}.lines", rows)


def config(inp: Path, out: Path, stages: list, **output: object) -> dict:
    return {
        "name": "report-test",
        "input": {"paths": [str(inp)], "format": "test-lines", "options": {"batch_rows": 32}},
        "output": {"path": str(out), "shard_size_mb": 0.002, **output},
        "stages": stages,
        "ray": {"progress": False},
    }


FULL_STAGES = [
    {"test_min_words": {"min_words": 3}},
    {"test_report_signals": {"min_alpha": 0.6}},
    "test_report_dedup",
]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory, ray_session: None) -> Path:
    base = tmp_path_factory.mktemp("report_full")
    make_inputs(base / "in")
    out = base / "out"
    cfg = config(base / "in", out, FULL_STAGES, sinks=[{"kind": "test_words"}])
    result = Pipeline(cfg).run()
    assert result.report_path == str(out / "report.html")
    return out


class _Charts(HTMLParser):
    """Counts chart figures and the SVG elements inside them; checks the page is balanced."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[str] = []
        self.svgs = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "figure" and a.get("data-chart"):
            self.charts.append(a["data-chart"] or "")
        if tag == "svg":
            self.svgs += 1
        for key in ("src", "href"):
            if a.get(key) and not str(a[key]).startswith("#"):
                self.external.append(str(a[key]))


def parse(path: Path) -> _Charts:
    p = _Charts()
    p.feed(path.read_text(encoding="utf-8"))
    return p


# --------------------------------------------------------------------------- numbers


def test_json_matches_lineage(full_run: Path) -> None:
    d = report_data(full_run)
    fates = dict(lineage_rows(full_run, "SELECT fate, count(*) FROM documents GROUP BY 1"))
    t = d["totals"]
    assert (t["kept"], t["rejected"], t["quarantined"]) == (
        fates.get("kept", 0),
        fates.get("rejected", 0),
        fates.get("quarantined", 0),
    )
    assert t["records"] == lineage_rows(full_run, "SELECT sum(records) FROM inputs")[0][0] == 122
    assert t["quarantined"] == 2

    # funnel: each stage removes exactly its lineage rejects; steps chain
    steps = {s["stage"]: s for s in d["funnel"]}
    assert [s["stage"] for s in d["funnel"]] == [
        "read",
        "test_min_words",
        "test_report_signals",
        "test_report_dedup",
    ]
    for name, s in steps.items():
        n = lineage_rows(
            full_run, f"SELECT count(*) FROM documents WHERE fate <> 'kept' AND stage = '{name}'"
        )
        assert s["rejected"] == n[0][0]
        assert s["docs_out"] == s["docs_in"] - s["rejected"]
    for a, b in zip(d["funnel"], d["funnel"][1:], strict=False):
        assert b["docs_in"] == a["docs_out"]
    assert d["funnel"][-1]["docs_out"] == t["kept"]
    stats = {
        stage: total
        for stage, kind, total in lineage_rows(
            full_run, "SELECT stage, kind, docs_rejected_total FROM stage_stats"
        )
        if kind not in ENGINE_STEPS  # reading and writing reject nothing: not funnel steps
    }
    assert set(stats) == set(steps) - {"read"}
    for name, total in stats.items():
        assert steps[name]["rejected"] == total
    assert set(steps["test_report_signals"]["reasons"]) == {"low_alpha"}
    assert steps["read"]["reasons"]["bang"] == {"docs": 2, "bytes": 0, "fate": "quarantined"}

    # languages, PII, tokens
    langs = {r["language"]: r for r in d["languages"]}
    assert set(langs) == {"en", "de"}
    for lang, r in langs.items():
        kept = lineage_rows(
            full_run, f"SELECT count(*) FROM documents WHERE language='{lang}' AND fate='kept'"
        )
        assert r["kept"] == kept[0][0]
    pii = {r["type"]: r for r in d["pii"]}
    assert set(pii) == {"email"}
    assert (
        pii["email"]["entities"]
        == lineage_rows(full_run, "SELECT sum(pii_email_count) FROM documents")[0][0]
    )
    assert (
        d["tokens"]["kept_tokens"]
        == lineage_rows(full_run, "SELECT sum(n_tokens) FROM documents WHERE fate = 'kept'")[0][0]
    )
    shard_tokens = sum(s["tokens"] for s in d["token_shards"])
    assert shard_tokens == d["tokens"]["kept_tokens"]

    # histograms hold every document with a value exactly once
    hist = d["signals"]["alpha_ratio"]
    assert sum(b["kept"] + b["rejected"] for b in hist["bins"]) == hist["count"]
    assert hist["count"] == lineage_rows(full_run, "SELECT count(alpha_ratio) FROM documents")[0][0]
    assert sum(b["rejected"] for b in hist["bins"]) > 0
    assert "language_score" in d["signals"] and "n_tokens" not in d["signals"]
    lengths = d["lengths"]["n_chars"]
    assert sum(b["kept"] for b in lengths["bins"]) == t["kept"]

    # dedup: ENGLISH is line i = 7, 14, ..., 56 (multiples of 7, not of 10) of both files
    dd = d["dedup"]
    assert dd["cluster_sizes"] == [{"size": 16, "clusters": 1}]
    assert dd["removed"] == steps["test_report_dedup"]["rejected"] == 15
    assert dd["rate"] == pytest.approx(15 / steps["test_report_dedup"]["docs_in"])


def test_samples_are_bounded_and_labelled(full_run: Path) -> None:
    s = report_data(full_run)["samples"]
    assert s["pii_stage"] is None
    groups = {(g["stage"], g["reason"]): g for g in s["groups"]}
    assert ("test_report_signals", "low_alpha") in groups
    assert ("test_report_dedup", "exact_duplicate") in groups
    rejected_ids = {
        r[0] for r in lineage_rows(full_run, "SELECT doc_id FROM documents WHERE fate = 'rejected'")
    }
    for g in s["groups"]:
        assert 1 <= len(g["docs"]) <= 3
        assert g["redacted"] is False
        for doc in g["docs"]:
            assert doc["id"] in rejected_ids
            assert len(doc["text"]) <= 300
    off = report_data(full_run, samples=False)
    assert off["samples"] is None


def test_html_has_every_section_and_chart(full_run: Path) -> None:
    page = parse(full_run / "report.html")
    expected = {
        "funnel",
        "reasons",
        "languages",
        "signal:alpha_ratio",
        "signal:language_score",
        "dup_clusters",
        "pii",
        "length:n_chars",
        "length:n_tokens",
        "token_shards",
        "stage_times",
    }
    assert expected <= set(page.charts)
    assert page.svgs >= len(page.charts)
    assert page.external == []
    text = (full_run / "report.html").read_text(encoding="utf-8")
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org", "")


# --------------------------------------------------------------------------- edge runs


@pytest.mark.usefixtures("ray_session")
def test_zero_rejected_and_zero_kept_runs_make_valid_reports(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    write_lines(inp / "a.lines", [f"{ENGLISH} {i}" for i in range(20)])
    none_rejected = tmp_path / "none_rejected"
    Pipeline(config(inp, none_rejected, ["passthrough"])).run()
    d = report_data(none_rejected)
    assert d["totals"]["rejected"] == 0 and d["totals"]["kept"] == 20
    assert all(s["rejected"] == 0 for s in d["funnel"])
    assert d["samples"]["groups"] == [] and d["languages"] is None and d["dedup"] is None
    assert "funnel" in parse(none_rejected / "report.html").charts

    none_kept = tmp_path / "none_kept"
    Pipeline(config(inp, none_kept, [{"length_filter": {"min_chars": 10_000}}])).run()
    d = report_data(none_kept)
    assert d["totals"]["kept"] == 0 and d["totals"]["rejected"] == 20
    assert d["funnel"][-1]["docs_out"] == 0
    page = parse(none_kept / "report.html")
    assert {"funnel", "reasons", "length:n_chars"} <= set(page.charts)


@pytest.mark.usefixtures("ray_session")
def test_samples_off_by_config_leave_no_text_in_the_page(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    write_lines(inp / "a.lines", ["secretword " * 3 + str(i) for i in range(5)] + ["x"])
    out = tmp_path / "out"
    Pipeline(config(inp, out, ["test_min_words"], report_samples=False)).run()
    assert report_data(out)["samples"] is None
    assert "secretword" not in (out / "report.html").read_text(encoding="utf-8")
    # the command line can still ask for them
    write_report(str(out), str(tmp_path / "with.html"), samples=True)
    with_samples = (tmp_path / "with.html").read_text(encoding="utf-8")
    assert '<div class="sample">x</div>' in with_samples  # the one rejected document
    assert "secretword" not in with_samples  # kept documents never appear


# --------------------------------------------------------------------------- CLI, compare


@pytest.fixture(scope="module")
def other_run(full_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shorter recipe over the same inputs, to compare against."""
    inp = next(iter(lineage_rows(full_run, "SELECT path FROM inputs")))[0].rsplit("/", 1)[0]
    other = tmp_path_factory.mktemp("report_other") / "other"
    Pipeline(config(Path(inp), other, ["test_min_words"])).run()
    return other


def test_stage_table_numbers_equal_lineage(full_run: Path) -> None:
    """'Stages: time and throughput': documents in and rejected per stage are lineage's,
    global stages included (their workers count nothing); kind is task/model/global."""
    d = report_data(full_run)
    funnel = {s["stage"]: s for s in d["funnel"]}
    stages = [s for s in d["stages"] if s["type"] not in ENGINE_STEPS]
    assert [s["stage"] for s in stages] == [s for s in funnel if s != "read"]
    # the engine's own steps come last, with no phase: writing (no PII stage, no redaction)
    (write,) = [s for s in d["stages"] if s["type"] in OUTPUT_STEPS]
    assert d["stages"][-1] is write and (write["stage"], write["kind"]) == ("write", "output")
    assert write["phase"] is None and write["docs_in"] >= funnel["read"]["docs_in"] > 0
    for s in stages:
        name = s["stage"]
        rejected = lineage_rows(
            full_run, f"SELECT count(*) FROM documents WHERE fate <> 'kept' AND stage = '{name}'"
        )[0][0]
        assert s["docs_rejected"] == rejected, name
        assert s["docs_in"] == funnel[name]["docs_in"] > 0, name
        assert s["kind"] in ("task", "model", "global") and s["type"] == name
        assert s["docs_per_s"] is None or s["docs_per_s"] > 0
    assert {s["stage"]: s["kind"] for s in d["stages"]}["test_report_dedup"] == "global"
    assert {s["stage"]: s["kind"] for s in d["stages"]}.get("read", "read") == "read"
    dd = d["dedup"]
    # N clusters hold M documents, of which one per cluster is kept: M - removed == N
    assert dd["docs_in_clusters"] - dd["removed"] == dd["clusters"] == 1


def test_config_diff_lists_every_changed_key() -> None:
    from corpusforge.pipeline.report.html import config_diff

    a = {"output": {"path": "a", "report": True}, "stages": [{"stage": "x", "params": {"n": 1}}]}
    b = {"output": {"path": "b", "report": True}, "stages": [{"stage": "x", "params": {"n": 2}}]}
    b["ray"] = {"num_cpus": 2}
    assert config_diff(a, b) == [
        ["output.path", '"a"', '"b"'],
        ["ray.num_cpus", "-", "2"],
        ["stages[0].params.n", "1", "2"],
    ]
    assert config_diff(a, a) == []


def test_cli_json_html_and_compare(full_run: Path, other_run: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(full_run), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == report_data(full_run)

    target = tmp_path / "r.html"
    res = runner.invoke(app, ["report", str(full_run), "--output", str(target)])
    assert res.exit_code == 0 and target.exists()

    # compare against a run of a shorter recipe over the same inputs
    other = other_run
    cmp_path = tmp_path / "cmp.html"
    res = runner.invoke(
        app, ["report", str(full_run), "--compare", str(other), "--output", str(cmp_path)]
    )
    assert res.exit_code == 0, res.output
    page = cmp_path.read_text(encoding="utf-8")
    assert "Funnel, A vs B" in page and str(other) in page
    assert "Configuration, A vs B" in page and "stages[1]" in page  # B has one stage less
    assert parse(cmp_path).charts.count("funnel") == 2

    res = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert res.exit_code == 1 and "no lineage" in res.output


# --------------------------------------------------------------------------- real browser

CHART_CHECK = """
(() => {
  const figs = [...document.querySelectorAll('figure.chart')];
  return figs.map(f => {
    const svg = f.querySelector('svg');
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    return {
      name: f.dataset.chart,
      marks: svg ? svg.querySelectorAll('g.role-mark path, g.role-mark rect').length : 0,
      width: box.width, height: box.height,
    };
  });
})()
"""


WIDTH_CHECK = """
(() => {
  const doc = document.documentElement;
  const clipped = [...document.querySelectorAll('figure.chart svg, table')].filter(el => {
    const box = el.getBoundingClientRect();
    return box.right > doc.clientWidth + 1;
  }).map(el => el.closest('section') ? el.closest('section').id : el.tagName);
  return {scroll: doc.scrollWidth, width: doc.clientWidth, clipped: clipped};
})()
"""


def _browser_errors(events: list[dict]) -> list[dict]:
    return [
        e
        for e in events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]


@pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists(),
    reason="Debian chromium not installed (.ci/install.sh installs it)",
)
@pytest.mark.parametrize("width", [1400, 900])
def test_report_and_compare_render_in_headless_chromium(
    full_run: Path, other_run: Path, tmp_path: Path, width: int
) -> None:
    """The report and the compare page in real Chromium at 1400 and 900 px: every chart
    drawn, nothing fetched, no sideways scrolling, no chart or table past the right edge.
    Screenshots go to test-artifacts/ (report-1400.png, compare-900.png, ...)."""
    from report_browser import Browser

    artifacts = Path(__file__).parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    cmp_path = tmp_path / "compare.html"
    write_report(str(full_run), str(cmp_path), compare=str(other_run))
    pages = {"report": full_run / "report.html", "compare": cmp_path}
    browser = Browser()
    seen: dict[str, dict] = {}
    try:
        for name, path in pages.items():
            session = browser.open_page(path.resolve().as_uri(), width=width)
            seen[name] = {
                "charts": browser.evaluate(session, CHART_CHECK),
                "fit": browser.evaluate(session, WIDTH_CHECK),
                "height": browser.evaluate(session, "document.documentElement.scrollHeight"),
            }
            browser.screenshot(session, str(artifacts / f"{name}-{width}.png"))
        events = list(browser.events)
    finally:
        browser.close()
    assert _browser_errors(events) == []
    requests = [
        e["params"]["request"]["url"]
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert len(requests) == 2 and all(u.startswith("file://") for u in requests), requests
    for name, got in seen.items():
        assert got["fit"]["scroll"] <= got["fit"]["width"], (name, got["fit"])
        assert got["fit"]["clipped"] == [], (name, got["fit"])
        assert len(got["charts"]) >= 11, name
        for chart in got["charts"]:
            assert chart["marks"] > 0, (name, chart)
            assert chart["width"] > 100 and chart["height"] > 50, (name, chart)
        assert got["height"] > 2000
        assert (artifacts / f"{name}-{width}.png").stat().st_size > 10_000


def test_run_summary_prints_report_highlights(full_run: Path, tmp_path: Path) -> None:
    import yaml

    inp = next(iter(lineage_rows(full_run, "SELECT path FROM inputs")))[0].rsplit("/", 1)[0]
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump(config(Path(inp), tmp_path / "out", FULL_STAGES)))
    res = CliRunner().invoke(app, ["run", str(cfg_path), "-q"])
    assert res.exit_code == 0, res.output
    assert "languages (kept): en" in res.output
    assert "duplicates: 15 removed" in res.output
    assert "PII entities: email" in res.output
    assert "tokens kept:" in res.output
    assert f"report: {tmp_path / 'out' / 'report.html'}" in res.output.replace("\n", "")

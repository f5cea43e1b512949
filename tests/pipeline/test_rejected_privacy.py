"""Privacy by default: rejected documents never keep a value the pipeline's PII stage redacts.

Documents are rejected before the ``pii`` stage (too short), at it, and after it; by default
``rejected/`` and the report hold none of the PII values, ``rejected_text: none`` stores no
text, and only an explicit ``rejected_text: raw`` keeps the original (and ``validate`` warns).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpusforge.pipeline.config import parse_config
from corpusforge.pipeline.engine.plan import build_stages
from corpusforge.pipeline.engine.privacy import privacy_warnings
from corpusforge.pipeline.engine.runner import Pipeline
from corpusforge.stages.pii.stage import PiiStage

pytestmark = pytest.mark.usefixtures("ray_session")

# one value of each type a default install redacts (Presidio patterns, no NER model)
VALUES = {
    "EMAIL": "jane.roe@example.org",
    "CREDIT_CARD": "4111 1111 1111 1111",
    "IBAN": "DE89 3704 0044 0532 0130 00",
    "IP": "203.0.113.77",
}
FILLER = "this paragraph is long enough to pass the length filter of the test pipeline " * 3


def documents() -> list[dict]:
    docs = []
    for i, (kind, value) in enumerate(VALUES.items()):
        docs.append({"id": f"short-{i}", "text": f"{kind.lower()} {value}"})  # rejected before
        docs.append({"id": f"long-{i}", "text": f"{FILLER} contact {value} now"})  # kept
        docs.append(
            {"id": f"late-{i}", "text": f"{FILLER} reach {value}" + " padding" * 10}
        )  # after pii
    return docs


def config(tmp_path: Path, **output: object) -> dict:
    inp = tmp_path / "in"
    inp.mkdir(parents=True, exist_ok=True)
    (inp / "a.jsonl").write_text("\n".join(json.dumps(d) for d in documents()) + "\n")
    return {
        "input": {"paths": [str(inp)], "options": {"id_field": "id"}},
        "output": {"path": str(tmp_path / "out"), **output},
        "stages": [
            {"length_filter": {"min_chars": 120}},
            "pii",
            {"stage": "length_filter", "name": "late_filter", "params": {"max_chars": 300}},
        ],
        "ray": {"progress": False},
    }


def test_the_pii_stage_covers_the_test_values() -> None:
    """The test means something only if a default `pii` stage redacts every value."""
    table = pa.table({"id": ["x"], "text": [" ".join(VALUES.values())]})
    stage = PiiStage()
    stage.ensure_setup()
    redacted = stage.process(table).column("text")[0].as_py()
    assert not [v for v in VALUES.values() if v in redacted], redacted


def rejected(tmp_path: Path) -> list[dict]:
    return pq.read_table(tmp_path / "out" / "rejected").to_pylist()


def test_rejected_text_is_redacted_by_default(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    Pipeline(cfg).run()
    rows = rejected(tmp_path)
    stages = {r["reject_stage"] for r in rows}
    assert {"length_filter", "late_filter"} <= stages  # before and after the pii stage
    for row in rows:
        assert row["text_redacted_by"] == "pii"
        assert not [v for v in VALUES.values() if v in row["text"]], row["id"]
    assert any("<EMAIL>" in r["text"] for r in rows if r["reject_stage"] == "length_filter")
    html = (tmp_path / "out" / "report.html").read_text()
    assert not [v for v in VALUES.values() if v in html]
    kept = pq.read_table(tmp_path / "out" / "data").column("text").to_pylist()
    assert kept and not [v for t in kept for v in VALUES.values() if v in t]
    planned = build_stages(parse_config(cfg))
    assert privacy_warnings("redacted", True, [p.stage for p in planned]) == []


def test_rejected_text_none_and_raw(tmp_path: Path) -> None:
    Pipeline(config(tmp_path / "none", rejected_text="none")).run()
    rows = rejected(tmp_path / "none")
    assert rows and all(r["text"] is None and r["text_redacted_by"] is None for r in rows)

    cfg = config(tmp_path / "raw", rejected_text="raw")
    Pipeline(cfg).run()
    rows = rejected(tmp_path / "raw")
    early = [r for r in rows if r["reject_stage"] == "length_filter"]
    assert early and all(r["text_redacted_by"] is None for r in early)
    assert {v for v in VALUES.values() if any(v in r["text"] for r in early)} == set(
        VALUES.values()
    )
    late = [r for r in rows if r["reject_stage"] == "late_filter"]
    assert late and all(r["text_redacted_by"] == "pii" for r in late)
    planned = build_stages(parse_config(cfg))
    (warning,) = privacy_warnings("raw", True, [p.stage for p in planned])
    assert "length_filter run before pii" in warning


def fragment_rows(out: Path) -> list[dict]:
    frags = sorted((out / "_work" / "phase0").glob("*.parquet"))
    return [r for f in frags for r in pq.read_table(f).to_pylist()]


def test_rejected_rows_are_redacted_in_the_task_that_rejected_them(tmp_path: Path) -> None:
    """Phase 0's fragments already hold the rejected rows redacted, each marked with the
    stage its text went through; lineage still describes the text as it was rejected."""
    Pipeline(config(tmp_path)).run()
    rows = fragment_rows(tmp_path / "out")
    rejected_rows = [r for r in rows if r["_fate"] == "rejected"]
    assert {r["_stage"] for r in rejected_rows} == {"length_filter", "late_filter"}
    for row in rejected_rows:
        assert row["_text_redacted_by"] == "pii"
        assert not [v for v in VALUES.values() if v in row["text"]], row["id"]
    assert all(r["_text_redacted_by"] is None for r in rows if r["_fate"] is None)

    originals = {d["id"]: d["text"] for d in documents()}
    con = duckdb.connect(str(tmp_path / "out" / "lineage.duckdb"), read_only=True)
    n_chars = dict(con.execute("SELECT doc_id, n_chars FROM documents").fetchall())
    con.close()
    early = [d for d in originals if d.startswith("short-")]
    assert early and all(n_chars[d] == len(originals[d]) for d in early)
    assert "_text_redacted_by" not in pq.read_table(tmp_path / "out" / "data").column_names


def test_the_redaction_of_rejected_rows_and_the_writing_have_their_own_stage_stats(
    tmp_path: Path,
) -> None:
    """The work a phase's tasks do after the stages is in stage_stats, after the stages and
    with no phase: the PII stage on the rows rejected before it (not those it saw), and
    writing every row of the fragments."""
    Pipeline(config(tmp_path)).run()
    con = duckdb.connect(str(tmp_path / "out" / "lineage.duckdb"), read_only=True)
    rows = con.execute(
        "SELECT stage, kind, phase, docs_in, bytes_in, bytes_out, seconds, docs_in_total "
        "FROM stage_stats ORDER BY position"
    ).fetchall()
    con.close()
    assert [r[0] for r in rows] == [
        "read", "length_filter", "pii", "late_filter", "redact_rejected", "write"
    ]  # fmt: skip
    early = [d["text"] for d in documents() if d["id"].startswith("short-")]
    redact, write = rows[-2], rows[-1]
    assert redact[1:6] == (
        "redact_rejected", None, len(early), sum(len(t.encode()) for t in early), 0
    )  # fmt: skip
    assert write[1:4] == ("write", None, len(documents()))
    assert write[4] == sum(r["_n_bytes"] for r in fragment_rows(tmp_path / "out")) > 0
    assert write[5] > 0  # Parquet bytes written
    assert redact[6] > 0 and write[6] > 0 and redact[7] is None and write[7] is None


def test_outputs_do_not_depend_on_where_the_text_was_redacted(tmp_path: Path) -> None:
    """A run whose phase 0 kept rejected text raw (``rejected_text: raw``), re-run with the
    default, has its rejected output redacted by the writer: the same table as a run that
    redacted in phase 0. A re-run after phase 0's commit was lost rewrites identical files."""
    direct = config(tmp_path)
    later = config(tmp_path, rejected_text="raw")
    later["output"]["path"] = str(tmp_path / "later")
    Pipeline(later).run()
    later["output"]["rejected_text"] = "redacted"
    Pipeline(later).run()
    rows = fragment_rows(tmp_path / "later")  # phase 0 ran once, under raw: unmarked
    assert rows and not [r for r in rows if r.get("_text_redacted_by")]
    assert next(r for r in rows if r["id"] == "short-0")["text"] == documents()[0]["text"]
    Pipeline(direct).run()
    assert pq.read_table(tmp_path / "later" / "rejected").equals(
        pq.read_table(tmp_path / "out" / "rejected")
    )

    before = checksums(tmp_path / "out")
    for journal in (tmp_path / "out" / "_work" / "phase0" / "_journal").glob("*.json"):
        journal.unlink()  # as if the run had died before phase 0 committed
    Pipeline(direct).run()
    assert checksums(tmp_path / "out") == before


def checksums(out: Path) -> dict[str, str]:
    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    rows = con.execute(
        "SELECT path, checksum FROM outputs WHERE kind IN ('kept', 'rejected', 'quarantined')"
    ).fetchall()
    con.close()
    return dict(rows)

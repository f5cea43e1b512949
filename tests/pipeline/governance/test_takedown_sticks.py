"""A takedown sticks: later runs into the same output, and runs deduplicating against it,
refuse a forgotten document by id and a re-crawled copy of it by normalized text."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from corpusforge.pipeline import Pipeline
from corpusforge.pipeline.governance.audit import audit
from corpusforge.pipeline.governance.forget import forget
from corpusforge.pipeline.governance.select import Selectors
from tests.governance_helpers import EMAIL, build_run, config, pages, tokenizer_file

pytestmark = pytest.mark.usefixtures("ray_session")


def _fates(out: Path) -> dict[str, tuple]:
    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT doc_id, fate, reason, detail FROM documents").fetchall()
    finally:
        con.close()
    return {r[0]: r[1:] for r in rows}


def _kept_ids(out: Path) -> set[str]:
    return {i for p in (out / "data").glob("*.parquet") for i in pq.read_table(p)["id"].to_pylist()}


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def recrawled(doc_id: str, new_id: str) -> dict:
    """The same page fetched again: new id and URL, different case and whitespace."""
    text = next(r["text"] for r in pages() if r["id"] == doc_id)
    return {"id": new_id, "url": f"https://mirror.example/{new_id}", "text": f"  {text.upper()}\n"}


def test_forgotten_documents_stay_out_of_later_runs(tmp_path: Path) -> None:
    out = build_run(tmp_path)
    tok = tokenizer_file(tmp_path / "tok")
    result = forget(str(out), Selectors(ids=["alpha.example-2"], contains=[EMAIL]))
    rid = result.request_id
    assert result.documents == 2

    # an incremental run into the same output: a new file with a re-crawled copy of the page
    fresh = {
        "id": "delta-1",
        "url": "https://delta.example/1",
        "text": "A fresh page, long enough.",
    }
    _write(tmp_path / "in" / "delta.jsonl", [recrawled("beta.example-5", "delta-0"), fresh])
    Pipeline(config([str(tmp_path / "in")], out, tok)).run()
    fates = _fates(out)
    assert fates["alpha.example-2"] == ("forgotten", "forgotten", rid)
    assert fates["beta.example-5"] == ("forgotten", "forgotten", rid)
    assert fates["delta-0"] == ("forgotten", "forgotten", rid)  # refused by normalized text
    assert fates["delta-1"][0] == "kept"
    kept = _kept_ids(out)
    assert "delta-1" in kept and not kept & {"alpha.example-2", "beta.example-5", "delta-0"}
    checked = audit(str(out))
    assert checked.ok, checked.problems

    # a run into another output that deduplicates against this one
    other = tmp_path / "in2" / "copies.jsonl"
    alpha2 = next(r for r in pages() if r["id"] == "alpha.example-2")
    fresh2 = {**fresh, "id": "copy-2", "text": "Another fresh page, long enough to keep."}
    _write(other, [recrawled("alpha.example-2", "copy-0"), {**alpha2, "id": "copy-1"}, fresh2])
    out2 = tmp_path / "out2"
    Pipeline(config([str(other)], out2, tok, dedup={"dedup_against": [str(out)]})).run()
    fates2 = _fates(out2)
    assert fates2["copy-0"][:2] == ("forgotten", "forgotten")
    assert fates2["copy-1"][:2] == ("forgotten", "forgotten")
    assert _kept_ids(out2) == {"copy-2"}

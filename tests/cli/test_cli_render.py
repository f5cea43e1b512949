"""What the CLI prints: numbers for people, machine formats, stage parameters, progress lines."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field
from rich.console import Console
from typer.testing import CliRunner

from corpusforge.cli import render
from corpusforge.cli.main import app
from corpusforge.pipeline.engine.progress import PhaseProgress

runner = CliRunner()


def test_cells_are_short_and_whole() -> None:
    assert render.cell(42.95087138899123) == "42.951"
    assert render.cell(Decimal("1234567")) == "1,234,567"
    assert render.cell(0.000123456) == "0.000123"
    assert render.cell(12345) == "12,345"
    assert render.cell(None) == "" and render.cell(True) == "true"


def test_rows_as_csv_and_json(capsys) -> None:
    cols, rows = ["stage", "docs", "share"], [("pii", 3, 0.5), ("langid", None, 1.0)]
    render.write_rows(Console(), cols, rows, "csv")
    assert capsys.readouterr().out == "stage,docs,share\npii,3,0.5\nlangid,,1.0\n"
    render.write_rows(Console(), cols, rows, "json")
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert got == [
        {"stage": "pii", "docs": 3, "share": 0.5},
        {"stage": "langid", "docs": None, "share": 1.0},
    ]


class _Params(BaseModel):
    mode: Literal["fast", "accurate"] = "fast"  # how hard to look
    names: list[str] = Field(default_factory=list, description="the names to keep")
    limit: int | None = None


def test_param_rows_have_type_default_choices_and_doc() -> None:
    assert render.param_rows(_Params) == [
        ("mode", "choice", "'fast'", "fast, accurate", "how hard to look"),
        ("names", "list[str]", "[]", "", "the names to keep"),
        ("limit", "int | None", "None", "", ""),
    ]


def test_stages_shows_readers_and_sinks_with_parameters() -> None:
    sink = runner.invoke(app, ["stages", "megatron"])
    assert sink.exit_code == 0 and "megatron (sink)" in sink.output
    assert "vocab_size" in sink.output and "int | None" in sink.output
    reader = runner.invoke(app, ["stages", "jsonl"])
    assert reader.exit_code == 0 and "text_field" in reader.output and ".jsonl" in reader.output
    pii = runner.invoke(app, ["stages", "pii"])
    assert "PydanticUndefined" not in pii.output and "one of: tag, mask," in pii.output
    unknown = runner.invoke(app, ["stages", "nope"])
    assert unknown.exit_code == 2
    assert unknown.output.startswith("error: unknown stage, reader or sink: 'nope'\nhint: known: ")


def test_progress_lines_count_documents_rate_and_eta(caplog) -> None:
    progress = PhaseProgress("phase 0", units=4, every_s=0.0)
    progress.start -= 10.0  # as if the phase had run for 10 s
    with caplog.at_level(logging.INFO, logger="corpusforge"):
        progress.rows(1500)
        progress.unit_done(20_000_000)
    line = caplog.records[-1].getMessage()
    assert line.startswith("phase 0: 1/4 files, 1,500 documents, ")
    rate = float(line.split(", ")[2].removesuffix(" MB/s"))
    assert 1.5 < rate <= 2.0  # 20 MB in a bit over 10 s
    assert line.endswith("ETA 30 s")

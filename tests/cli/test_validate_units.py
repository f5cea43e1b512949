"""``validate`` names the inputs over ``input.unit_size_mb`` that are read as one unit, and
why, from file metadata only."""

from __future__ import annotations

import gzip
from pathlib import Path

from typer.testing import CliRunner

from corpusforge.cli.main import app
from tests.parts_data import jsonl_bytes

runner = CliRunner()


def test_validate_notes_a_big_single_stream_gzip(tmp_path: Path) -> None:
    corpus = tmp_path / "in"
    corpus.mkdir()
    data = jsonl_bytes(16000)
    (corpus / "big.jsonl.gz").write_bytes(gzip.compress(data, compresslevel=1))
    (corpus / "plain.jsonl").write_bytes(data)  # over the unit size too, but cut at lines
    (corpus / "small.jsonl.gz").write_bytes(gzip.compress(data[:2000]))
    assert (corpus / "big.jsonl.gz").stat().st_size > 1.2e6
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"input:\n  paths: [{corpus}]\n  unit_size_mb: 1\noutput:\n  path: {tmp_path / 'o'}\n"
        "ray:\n  progress: false\nstages:\n  - length_filter: {min_chars: 5}\n"
    )
    result = runner.invoke(app, ["validate", str(cfg)])
    assert result.exit_code == 0, result.output
    notes = [line.strip() for line in result.output.splitlines() if "note:" in line]
    assert len(notes) == 1, result.output
    assert notes[0].startswith("note: big.jsonl.gz is read as one unit: gzip without BGZF")
    assert "bgzip" in notes[0]

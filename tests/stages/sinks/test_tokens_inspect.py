"""``corpusforge tokens``: totals, decoded sample, token position -> source document."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
import typer
from typer.testing import CliRunner

from corpusforge.cli.commands.tokens import tokens, tokens_app
from corpusforge.pipeline import Pipeline
from corpusforge.stages.sinks import inspect_shards as tokens_inspect
from corpusforge.stages.tokenize.stage import TokenizeStage

pytestmark = pytest.mark.usefixtures("ray_session")


def build_output(tmp_path) -> tuple[str, pa.Table]:
    """A real run: JSONL -> tokenize -> Megatron shards, lineage written by the engine."""
    texts = [f"document number {i} says hello" for i in range(12)]
    inp = tmp_path / "in"
    inp.mkdir()
    for k, chunk in enumerate((texts[:5], texts[5:])):
        lines = [json.dumps({"id": f"doc-{k * 5 + i}", "text": t}) for i, t in enumerate(chunk)]
        (inp / f"part{k}.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    cfg = {
        "input": {"paths": [str(inp)], "options": {"id_field": "id"}},
        "output": {
            "path": str(out),
            "shard_size_mb": 0.0001,  # one shard per input file
            "drop_columns": ["input_ids"],
            "sinks": [{"kind": "megatron", "path": "tokens", "params": {"tokenizer": "gpt2"}}],
        },
        "stages": [{"tokenize": {"tokenizer": "gpt2", "device": "cpu"}}],
        "ray": {"progress": False},
    }
    Pipeline(cfg).run()
    docs = pa.table({"id": [f"doc-{i}" for i in range(12)], "text": texts})
    tokenized = TokenizeStage(tokenizer="gpt2", device="cpu")(docs)
    return str(out), tokenized


def test_summary_sample_and_locate(tmp_path) -> None:
    out, tokenized = build_output(tmp_path)
    infos = tokens_inspect.summarize(out)
    assert [i.name for i in infos] == ["tokens/part-00000.bin", "tokens/part-00001.bin"]
    assert sum(i.documents for i in infos) == 12
    assert sum(i.tokens for i in infos) == sum(tokenized["n_tokens"].to_pylist())
    assert {i.dtype for i in infos} == {"uint16"}
    texts = [t for _, _, t in tokens_inspect.sample(out, 3)]
    assert len(texts) == 3 and all(t.startswith("document number") for t in texts)
    n = tokenized["n_tokens"].to_pylist()
    src = tokens_inspect.locate(out, "part-00001.bin", n[5] + 2)  # third token of doc-6
    assert (src.doc_id, src.doc_offset, src.source_path, src.source_index) == (
        "doc-6",
        2,
        str(tmp_path / "in" / "part1.jsonl"),
        1,
    )


def test_cli(tmp_path) -> None:
    out, _ = build_output(tmp_path)
    runner = CliRunner()
    main = typer.Typer()
    main.command("run")(lambda: None)
    main.command("tokens")(tokens)  # how the main CLI mounts it
    res = runner.invoke(main, ["tokens", out, "--sample", "1"])
    assert res.exit_code == 0, res.output
    assert "part-00001.bin" in res.output and "document number" in res.output
    res = runner.invoke(tokens_app, [out, "--at", "tokens/part-00000.bin:0"])
    assert res.exit_code == 0 and "doc-0" in res.output and "record 0" in res.output
    res = runner.invoke(tokens_app, [out, "--at", "part-00000.bin:999999"])
    assert res.exit_code == 1 and "no document covers" in res.output

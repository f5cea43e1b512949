"""``corpusforge tokens``: totals, decoded sample, token position -> source document."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import typer
from typer.testing import CliRunner

from corpusforge.cli.tokens import tokens, tokens_app
from corpusforge.stages import tokens_inspect
from corpusforge.stages.token_sinks import MegatronSink
from corpusforge.stages.tokenize_stage import TokenizeStage


def build_output(tmp_path) -> tuple[str, pa.Table]:
    texts = [f"document number {i} says hello" for i in range(12)]
    docs = pa.table(
        {
            "id": [f"doc-{i}" for i in range(12)],
            "text": texts,
            "source_path": ["in.jsonl"] * 12,
            "source_index": list(range(12)),
        }
    )
    tokenized = TokenizeStage(tokenizer="gpt2", device="cpu")(docs)
    sink = MegatronSink({"tokenizer": "gpt2"})
    out = tmp_path / "out"
    tok_dir = out / "tokens"
    index = pa.concat_tables(
        [
            sink.write_shard([tokenized.slice(0, 5)], str(tok_dir), "part-00000"),
            sink.write_shard([tokenized.slice(5)], str(tok_dir), "part-00001"),
        ]
    )
    con = duckdb.connect(str(out / "lineage.duckdb"))
    con.register("idx", index)
    con.register("docs", docs.select(["id", "source_path", "source_index"]))
    con.execute("create table sink_index as select * from idx")
    con.execute(
        "create table documents as select id as doc_id, source_path, source_index from docs"
    )
    con.close()
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
        "in.jsonl",
        6,
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

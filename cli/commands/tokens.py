"""``corpusforge tokens OUT``: inspect token shards.

Mount in the main app as a command (not ``add_typer``, which would make ``tokens`` a group that
wants a sub-command): ``app.command("tokens")(tokens)``. ``tokens_app`` runs it standalone.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from corpusforge.pipeline.api.errors import CorpusforgeError
from corpusforge.stages.sinks import inspect_shards as tokens_inspect

tokens_app = typer.Typer(help="Inspect token shards: counts, decoded samples, token sources.")


@tokens_app.command()
def tokens(
    out: str = typer.Argument(..., help="the run's output folder"),
    sample: int = typer.Option(0, "--sample", help="print N decoded documents"),
    at: str | None = typer.Option(None, "--at", help="SHARD:POS -> the source document"),
    tokenizer: str | None = typer.Option(None, help="tokenizer to decode with"),
) -> None:
    console = Console()
    try:
        if at:
            shard, pos = tokens_inspect.parse_at(at)
            src = tokens_inspect.locate(out, shard, pos)
            console.print(
                f"{src.shard}:{src.position} -> doc {src.doc_id} (token {src.doc_offset}), "
                f"source {src.source_path} record {src.source_index}"
            )
            return
        infos = tokens_inspect.summarize(out)
        table = Table("shard", "docs", "tokens", "dtype")
        for info in infos:
            table.add_row(info.name, str(info.documents), str(info.tokens), info.dtype)
        table.add_row(
            "total", str(sum(i.documents for i in infos)), str(sum(i.tokens for i in infos)), ""
        )
        console.print(table)
        for shard, index, text in tokens_inspect.sample(out, sample, tokenizer) if sample else []:
            console.rule(f"{shard} #{index}")
            console.print(text, markup=False, highlight=False)
    except CorpusforgeError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        if exc.hint:
            console.print(f"hint: {exc.hint}")
        raise typer.Exit(exc.exit_code) from None

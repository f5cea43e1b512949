"""``corpusforge forget OUT``: take documents out of a finished output, in place.

Mounted by cli/main.py with ``register(app, fail)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from corpusforge.pipeline.api.errors import CorpusforgeError

out = Console()
Fail = Callable[[BaseException], NoReturn]


def _print(result) -> None:  # type: ignore[no-untyped-def]
    head = "would forget" if result.dry_run else "forgot"
    c = result.counts
    out.print(
        f"{head} {result.documents} documents ({c.get('kept', 0)} kept, "
        f"{c.get('rejected', 0)} rejected); request {result.request_id}",
        highlight=False,
    )
    for rid in result.resumed:
        out.print(f"  finished interrupted request {rid} first", highlight=False)
    if result.dry_run:
        for shard in result.shards:
            out.print(f"  would rewrite {shard}", highlight=False)
    else:
        out.print(
            f"  rewrote {c.get('data_shards', 0)} data, {c.get('token_shards', 0)} token, "
            f"{c.get('rejected_shards', 0)} rejected shards and {c.get('checkpoints', 0)} "
            "checkpoint fragments",
            highlight=False,
        )
    notes = [
        (result.not_found, "ids not in lineage"),
        (result.already_forgotten, "already forgotten"),
        (result.skipped_quarantined, "quarantined (no content stored)"),
        (result.copies, "of them exact copies of a named document's text"),
    ]
    for n, what in notes:
        if n:
            out.print(f"  {n} {what}", highlight=False)


def register(app: typer.Typer, fail: Fail) -> None:
    @app.command()
    def forget(
        output: Annotated[str, typer.Argument(help="A finished run's output folder.")],
        ids: Annotated[Path | None, typer.Option("--ids", help="File of doc ids.")] = None,
        urls: Annotated[Path | None, typer.Option("--urls", help="File of URLs.")] = None,
        domain: Annotated[
            list[str] | None, typer.Option("--domain", help="A site and its subdomains.")
        ] = None,
        sql: Annotated[
            str | None, typer.Option("--sql", help='"WHERE ..." over the documents table.')
        ] = None,
        contains: Annotated[
            Path | None,
            typer.Option("--contains", help="File of literal strings (case-insensitive)."),
        ] = None,
        reason: Annotated[str, typer.Option(help="Short reason code.")] = "takedown",
        request_id: Annotated[str | None, typer.Option(help="Your ticket id.")] = None,
        requested_by: Annotated[str | None, typer.Option(help="Default: the user.")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what goes.")] = False,
    ) -> None:
        """Remove documents from a finished output: kept and token shards rewritten in place,
        fate `forgotten` in lineage, and kept out of later runs. Selectors combine (union)."""
        from corpusforge.pipeline.governance.forget import forget as run_forget
        from corpusforge.pipeline.governance.select import Selectors, read_values

        try:
            sel = Selectors(
                ids=read_values(ids, "--ids") if ids else [],
                urls=read_values(urls, "--urls") if urls else [],
                domains=list(domain or []),
                sql=sql,
                contains=read_values(contains, "--contains") if contains else [],
            )
            result = run_forget(
                output,
                sel,
                reason=reason,
                request_id=request_id,
                requested_by=requested_by,
                dry_run=dry_run,
            )
        except CorpusforgeError as exc:
            fail(exc)
        _print(result)

"""``corpusforge audit OUT``: re-check a finished output against its lineage.

Mounted by cli/main.py with ``register(app, fail)``. Exit code 1 on any mismatch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from corpusforge.pipeline.api.errors import CorpusforgeError

out = Console()
Fail = Callable[[BaseException], NoReturn]


def _print_summary(p: dict[str, Any]) -> None:
    inputs = p.get("inputs") or []
    out.print(f"inputs: {len(inputs)} files", highlight=False)
    for i in inputs[:10]:
        out.print(f"  {i['path']}  xxh3 {i['checksum']}  {i['records']} records", highlight=False)
    if len(inputs) > 10:
        out.print(f"  ... {len(inputs) - 10} more (--format json lists all)", highlight=False)
    for run in p.get("runs") or []:
        out.print(
            f"run {run['run_id']} ({run['status']}): corpusforge {run['version']}, "
            f"config xxh3 {run['config_xxh3_64']}",
            highlight=False,
        )
        prov = run.get("provenance") or {}
        for f in prov.get("files") or []:
            out.print(
                f"  {f['used_by']}.{f['param']}: {f['path']}  xxh3 {f['xxh3_64']}",
                highlight=False,
            )
        if prov:
            libs = ", ".join(f"{k} {v}" for k, v in sorted((prov.get("libraries") or {}).items()))
            out.print(f"  by {prov.get('user')}@{prov.get('host')}; {libs}", highlight=False)
    for t in p.get("takedowns") or []:
        out.print(
            f"takedown {t['request_id']} ({t['status']}, {t['reason']}, {t['selector_kinds']}): "
            f"{t['documents']} documents, by {t['requested_by']} at {t['created_at']}",
            highlight=False,
        )


def register(app: typer.Typer, fail: Fail) -> None:
    @app.command()
    def audit(
        output: Annotated[str, typer.Argument(help="A finished run's output folder.")],
        format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    ) -> None:
        """Re-hash every output file and check it against lineage; print the provenance."""
        from corpusforge.pipeline.governance.audit import audit as run_audit
        from corpusforge.pipeline.governance.audit import to_json

        try:
            result = run_audit(output)
        except CorpusforgeError as exc:
            fail(exc)
        if format == "json":
            typer.echo(to_json(result))
        else:
            _print_summary(result.provenance)
            for p in result.problems:
                out.print(f"[red]MISMATCH[/] {p.file}: {p.message}", highlight=False)
            status = "[green]audit ok[/]" if result.ok else "[red]audit failed[/]"
            out.print(f"{status}: {result.files_checked} files checked", highlight=False)
        if not result.ok:
            raise typer.Exit(1)

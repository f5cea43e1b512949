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


def _say(text: str) -> None:
    out.print(text, highlight=False)


def _print_summary(p: dict[str, Any]) -> None:
    inputs = p.get("inputs") or []
    _say(f"inputs: {len(inputs)} files")
    for i in inputs[:10]:
        _say(f"  {i['path']}  xxh3 {i['checksum']}  {i['records']} records")
    if len(inputs) > 10:
        _say(f"  ... {len(inputs) - 10} more (--format json lists all)")
    for run in p.get("runs") or []:
        _say(
            f"run {run['run_id']} ({run['status']}): corpusforge {run['version']}, "
            f"config xxh3 {run['config_xxh3_64']}"
        )
        prov = run.get("provenance") or {}
        for f in prov.get("files") or []:
            _say(f"  {f['used_by']}.{f['param']}: {f['path']}  xxh3 {f['xxh3_64']}")
        if prov:
            libs = ", ".join(f"{k} {v}" for k, v in sorted((prov.get("libraries") or {}).items()))
            _say(f"  by {prov.get('user')}@{prov.get('host')}; {libs}")
    for t in p.get("takedowns") or []:
        _say(
            f"takedown {t['request_id']} ({t['status']}, {t['reason']}, {t['selector_kinds']}): "
            f"{t['documents']} documents, by {t['requested_by']} at {t['created_at']}"
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
                _say(f"[red]MISMATCH[/] {p.file}: {p.message}")
            status = "[green]audit ok[/]" if result.ok else "[red]audit failed[/]"
            _say(f"{status}: {result.files_checked} files checked")
        if not result.ok:
            raise typer.Exit(1)

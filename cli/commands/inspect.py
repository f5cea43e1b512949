"""``validate``, ``stages`` and ``lineage``: commands that look at a config, the registry or a
finished run without running anything. Mounted by cli/main.py with ``register(app, fail)``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from corpusforge.cli import render
from corpusforge.pipeline.api.errors import ConfigError, CorpusforgeError

out = Console()
Fail = Callable[[BaseException], NoReturn]


def validate_config(
    config: Path, fail: Fail, dry_run: bool, inputs: list[str] | None = None
) -> None:
    from corpusforge.pipeline.config import load_config
    from corpusforge.pipeline.engine.plan import build_stages, check_columns, split_phases
    from corpusforge.pipeline.engine.preflight import preflight
    from corpusforge.pipeline.engine.privacy import privacy_warnings

    try:
        cfg = load_config(config)
        if inputs:
            cfg = cfg.model_copy(update={"input": cfg.input.model_copy(update={"paths": inputs})})
        planned = build_stages(cfg)
        check_columns(cfg, planned)
        phases = split_phases(planned)
        checked = preflight(cfg, planned if dry_run else None)
    except CorpusforgeError as exc:
        fail(exc)
    out.print(f"[green]ok[/]: {config}", highlight=False)
    for warning in privacy_warnings(
        cfg.output.rejected_text, cfg.output.write_rejected, [p.stage for p in planned]
    ):
        out.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    for phase in phases:
        out.print(f"  phase {phase.index}: " + (" -> ".join(phase.names) or "(read only)"))
    tried = f"; dry run on {checked['records_tried']} records of it" if dry_run else ""
    out.print(
        f"  {checked['units']:,} input files, first {checked['first_input']}{tried}",
        highlight=False,
        soft_wrap=True,
    )
    for note in checked["whole_files"]:
        out.print(f"  note: {note}", highlight=False, soft_wrap=True)


def stage_kind(cls: Any) -> str:
    return "global" if cls.is_global else ("model" if cls.stateful else "task")


def find_component(name: str) -> tuple[str, Any]:
    """(what, class) of a stage, reader (by format) or sink called ``name``."""
    from corpusforge.pipeline.registry import all_readers, all_sinks, all_stages

    for what, table in (("stage", all_stages()), ("reader", all_readers()), ("sink", all_sinks())):
        if name in table:
            return what, table[name]
    known = sorted({*all_stages(), *all_readers(), *all_sinks()})
    raise ConfigError(f"unknown stage, reader or sink: {name!r}", hint="known: " + ", ".join(known))


def print_component(name: str, what: str, cls: Any) -> None:
    kind = f"{what}, {stage_kind(cls)}" if what == "stage" else what
    desc = getattr(cls, "description", "") or (cls.__doc__ or "").strip().split("\n")[0]
    out.print(f"[bold]{name}[/] ({kind}): {desc}", highlight=False, soft_wrap=True)
    if what == "reader":
        out.print("  files: " + " ".join(cls.extensions), highlight=False)
    rows = render.param_rows(cls.Params)
    if not rows:
        out.print("  no parameters")
        return
    table = Table(pad_edge=False, show_lines=False)
    for col in ("parameter", "type", "default", "doc"):
        table.add_column(col, overflow="fold")
    for pname, type_, default, choices, doc in rows:
        if choices:
            doc = f"one of: {choices}" + (f"; {doc}" if doc else "")
        table.add_row(pname, type_, default, doc)
    out.print(table)


def print_catalog() -> None:
    from corpusforge.pipeline.registry import all_readers, all_sinks, all_stages

    table = Table(pad_edge=False)
    for col in ("name", "kind", "description"):
        table.add_column(col, overflow="fold")
    for name, cls in all_stages().items():
        table.add_row(name, stage_kind(cls), cls.description or "")
    for name, cls in all_readers().items():
        table.add_row(name, "reader", " ".join(cls.extensions))
    for name, cls in all_sinks().items():
        table.add_row(name, "sink", getattr(cls, "description", "") or "")
    out.print(table)
    out.print("parameters of one: corpusforge stages NAME", highlight=False)


def print_record(row: dict[str, Any]) -> None:
    table = Table(show_header=False, pad_edge=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for k, v in row.items():
        table.add_row(k, render.cell(v))
    out.print(table)


def lineage_command(out_dir: Path, doc: str | None, sql: str | None, fmt: str) -> None:
    from corpusforge.pipeline.lineage import query as lineage_query

    if fmt not in render.FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(render.FORMATS)}, not {fmt!r}")
    if doc:
        rows = lineage_query.document(out_dir, doc)
        if not rows:
            raise CorpusforgeError(f"no document with id {doc!r} in {out_dir}")
        if fmt == "table":
            for row in rows:
                print_record(row)
        else:
            render.write_rows(out, list(rows[0]), [list(r.values()) for r in rows], fmt)
    elif sql:
        cols, rows = lineage_query.sql(out_dir, sql)
        render.write_rows(out, cols, rows, fmt)
    else:
        for title, (cols, rows) in lineage_query.summary(out_dir).items():
            if fmt == "table":
                out.print(render.rows_table(cols, rows, title))
            else:
                render.write_rows(out, ["table", *cols], [[title, *r] for r in rows], fmt)


def register(app: typer.Typer, fail: Fail) -> None:
    @app.command()
    def validate(
        config: Annotated[Path | None, typer.Argument(help="YAML config file.")] = None,
        schema: Annotated[
            bool, typer.Option("--schema", help="Print the config's JSON Schema.")
        ] = False,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run/--no-dry-run",
                help="Run the per-file stages on the first records of the first input.",
            ),
        ] = True,
        inputs: Annotated[
            list[str] | None,
            typer.Option("--input", "-i", help="Input paths (replace the config's)."),
        ] = None,
    ) -> None:
        """Check a config: keys, stages, columns, paths, and a dry run on a few records."""
        from corpusforge.pipeline.config import config_json_schema

        if schema:
            sys.stdout.write(json.dumps(config_json_schema(), indent=2) + "\n")
            return
        if config is None:
            fail(ConfigError("give a CONFIG file, or --schema"))
        validate_config(config, fail, dry_run, inputs)

    @app.command()
    def stages(
        name: Annotated[
            str | None, typer.Argument(help="A stage, reader or sink: its parameters.")
        ] = None,
    ) -> None:
        """List the stages, readers and sinks; with NAME, its parameters in detail."""
        try:
            if name:
                print_component(name, *find_component(name))
            else:
                print_catalog()
        except CorpusforgeError as exc:
            fail(exc)

    @app.command()
    def lineage(
        out_dir: Annotated[Path, typer.Argument(help="A run's output folder.")],
        doc: Annotated[
            str | None, typer.Option("--doc", help="What happened to this document id.")
        ] = None,
        sql: Annotated[str | None, typer.Option("--sql", help="Run a read-only SQL query.")] = None,
        summary: Annotated[
            bool, typer.Option("--summary", help="Fates by stage and reason (the default).")
        ] = False,
        fmt: Annotated[
            str, typer.Option("--format", help="table (for people), csv or json (lines).")
        ] = "table",
    ) -> None:
        """Query a run's lineage (OUT/lineage.duckdb)."""
        try:
            lineage_command(out_dir, doc, sql, fmt)
        except CorpusforgeError as exc:
            fail(exc)

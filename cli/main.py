"""The `corpusforge` command: parses, calls corpusforge.pipeline, prints. Nothing more."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from corpusforge.cli.commands.tokens import tokens as tokens_command
from corpusforge.pipeline.api.errors import ConfigError, CorpusforgeError

app = typer.Typer(
    name="corpusforge",
    help="Clean, deduplicate, redact and tokenize pretraining corpora on Ray, with lineage.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)
_state: dict[str, bool] = {"debug": False}


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug


def _fail(exc: BaseException) -> None:
    """One clear line and a hint; the traceback only with --debug."""
    if _state["debug"]:
        raise exc
    if isinstance(exc, CorpusforgeError):
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        if exc.hint:
            err.print(f"[dim]hint:[/] {exc.hint}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code)
    err.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", highlight=False, soft_wrap=True)
    err.print("[dim]hint:[/] re-run with --debug for the traceback", highlight=False)
    raise typer.Exit(1)


# ---------------------------------------------------------------------------- run


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="YAML config file.")],
    input: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="Input paths (replace the config's).")
    ] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Output folder.")] = None,
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Connect to this Ray cluster.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume/--no-resume", help="Skip work finished by earlier runs.")
    ] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Run a pipeline: read, apply the stages, write outputs, lineage and report."""
    from corpusforge.pipeline.config import load_config
    from corpusforge.pipeline.engine.runner import Pipeline

    if not quiet:
        _log_progress()
    try:
        overrides = {"ray.progress": False} if quiet else None
        cfg = load_config(config, overrides=overrides)
        pipeline = Pipeline(
            cfg, inputs=input, output=output, ray_address=ray_address, resume=resume
        )
        result = pipeline.run()
    except (CorpusforgeError, OSError) as exc:
        _fail(exc)
    except KeyboardInterrupt:
        err.print("interrupted: finished units are kept; run the same command again to resume")
        raise typer.Exit(130) from None
    print_summary(result)


def _log_progress() -> None:
    """Phase-by-phase progress lines (counts and seconds, never document text) on stderr."""
    import logging

    from rich.logging import RichHandler

    logger = logging.getLogger("corpusforge")
    if not logger.handlers:
        handler = RichHandler(console=err, show_path=False, show_level=False, markup=False)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def print_summary(result: Any) -> None:
    table = Table(title=f"run {result.run_id}", title_justify="left")
    for col in ("stage", "phase", "docs in", "kept", "rejected", "top reasons", "MB in", "s"):
        table.add_column(col, justify="left" if col in ("stage", "top reasons") else "right")
    by_stage: dict[str, list[tuple[str, int]]] = {}
    for key, n in result.rejects_by_reason.items():
        stage, _, reason = key.partition(":")
        by_stage.setdefault(stage, []).append((reason, n))
    read_reasons = by_stage.get("read", [])
    table.add_row(
        "read",
        "0",
        f"{result.records:,}",
        f"{result.records - sum(n for _, n in read_reasons):,}",
        f"{sum(n for _, n in read_reasons):,}",
        ", ".join(f"{r} {n}" for r, n in read_reasons[:3]),
        "",
        "",
    )
    for s in result.stages:
        reasons = by_stage.get(s["stage"], [])
        docs_in = s["docs_in_total"] if s["docs_in_total"] is not None else s["docs_in"]
        rejected = s["docs_rejected_total"] if s["docs_rejected_total"] is not None else 0
        table.add_row(
            s["stage"],
            str(s["phase"]),
            f"{docs_in:,}",
            f"{docs_in - rejected:,}",
            f"{rejected:,}",
            ", ".join(f"{r} {n}" for r, n in reasons[:3]),
            f"{(s['bytes_in'] or 0) / 1e6:.1f}",
            f"{s['seconds'] or 0:.1f}",
        )
    out.print(table)
    out.print(
        f"[bold]{result.records:,}[/] records from {result.units_total} files "
        f"({result.units_processed} processed, {result.units_skipped} done earlier): "
        f"[green]{result.kept:,} kept[/], [yellow]{result.rejected:,} rejected[/], "
        f"[red]{result.quarantined:,} quarantined[/] in {result.seconds:.1f} s",
        highlight=False,
    )
    out.print(f"output: {result.output}   lineage: {result.lineage_path}", highlight=False)
    if result.report_path:
        _print_highlights(result.output)
        out.print(f"report: {result.report_path}", highlight=False)


# ---------------------------------------------------------------------------- cluster

AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--address", envvar="RAY_ADDRESS", help="Ray dashboard address, e.g. http://HEAD:8265."
    ),
]


@app.command()
def submit(
    config: Annotated[Path, typer.Argument(help="YAML config file.")],
    address: AddressOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="Stream the logs until the end.")] = False,
    input: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="Input paths (replace the config's).")
    ] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Output folder.")] = None,
    resume: Annotated[
        bool, typer.Option("--resume/--no-resume", help="Skip work finished by earlier runs.")
    ] = True,
    runtime_env: Annotated[
        str | None,
        typer.Option("--runtime-env", help="Extra Ray runtime_env: a YAML/JSON file or JSON."),
    ] = None,
    py_module: Annotated[
        list[str] | None,
        typer.Option("--py-module", help="Ship this folder, .py file or .whl with the job."),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", help="Copy this environment variable (by NAME) to the job."),
    ] = None,
    job_id: Annotated[str | None, typer.Option("--job-id", help="Choose the job id.")] = None,
) -> None:
    """Run a config on a Ray cluster (Job Submission API); prints the job id."""
    from corpusforge.pipeline.backends.ray import submit as submit_module

    try:
        jid = submit_module.submit(
            config,
            address,
            inputs=input,
            output=output,
            resume=resume,
            py_modules=py_module or [],
            env=env or [],
            runtime_env=runtime_env,
            job_id=job_id,
        )
    except (CorpusforgeError, OSError) as exc:
        _fail(exc)
    sys.stdout.write(jid + "\n")
    sys.stdout.flush()
    if wait:
        _follow(address, jid)


def _write_now(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _follow(address: str | None, jid: str) -> None:
    from corpusforge.pipeline.backends.ray import submit as submit_module

    try:
        status = submit_module.follow(address, jid, _write_now)
    except KeyboardInterrupt:
        err.print(f"stopped following; the job runs on: corpusforge jobs stop {jid}")
        raise typer.Exit(130) from None
    except CorpusforgeError as exc:
        _fail(exc)
    err.print(f"job {jid}: {status}", highlight=False)
    if status != "SUCCEEDED":
        raise typer.Exit(1)


jobs_app = typer.Typer(help="Jobs submitted with `corpusforge submit`.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


@jobs_app.command("status")
def jobs_status(
    job_id: Annotated[str, typer.Argument(help="Job id printed by submit.")],
    address: AddressOpt = None,
) -> None:
    """Print a job's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED)."""
    from corpusforge.pipeline.backends.ray import submit as submit_module

    try:
        sys.stdout.write(submit_module.status(address, job_id) + "\n")
    except CorpusforgeError as exc:
        _fail(exc)


@jobs_app.command("logs")
def jobs_logs(
    job_id: Annotated[str, typer.Argument(help="Job id printed by submit.")],
    address: AddressOpt = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream until the end.")] = False,
) -> None:
    """Print a job's logs."""
    from corpusforge.pipeline.backends.ray import submit as submit_module

    if follow:
        _follow(address, job_id)
        return
    try:
        sys.stdout.write(submit_module.logs(address, job_id))
    except CorpusforgeError as exc:
        _fail(exc)


@jobs_app.command("stop")
def jobs_stop(
    job_id: Annotated[str, typer.Argument(help="Job id printed by submit.")],
    address: AddressOpt = None,
) -> None:
    """Stop a job; finished units are kept, so submitting again resumes."""
    from corpusforge.pipeline.backends.ray import submit as submit_module

    try:
        stopped = submit_module.stop(address, job_id)
    except CorpusforgeError as exc:
        _fail(exc)
    out.print(f"job {job_id}: " + ("stop requested" if stopped else "not running"))


def _print_highlights(out_dir: str) -> None:
    """One line per report section the run has (languages, dedup, PII, tokens...)."""
    from corpusforge.pipeline.report.data import report_data, report_highlights

    try:
        d = report_data(out_dir, samples=False)
    except Exception as exc:  # the run succeeded; a summary line is not worth failing it
        err.print(f"[dim]no highlights: {type(exc).__name__}[/]", highlight=False)
        return
    for line in report_highlights(d):
        out.print(line, highlight=False)


# ---------------------------------------------------------------------------- validate


@app.command()
def validate(
    config: Annotated[Path | None, typer.Argument(help="YAML config file.")] = None,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the config's JSON Schema.")
    ] = False,
) -> None:
    """Check a config (keys, stage names and parameters) without running it."""
    from corpusforge.pipeline.config import config_json_schema, load_config
    from corpusforge.pipeline.engine.plan import build_stages, check_columns, split_phases

    if schema:
        sys.stdout.write(json.dumps(config_json_schema(), indent=2) + "\n")
        return
    if config is None:
        _fail(ConfigError("give a CONFIG file, or --schema"))
    try:
        cfg = load_config(config)
        planned = build_stages(cfg)
        check_columns(cfg, planned)
        phases = split_phases(planned)
    except CorpusforgeError as exc:
        _fail(exc)
    out.print(f"[green]ok[/]: {config}", highlight=False)
    for phase in phases:
        out.print(f"  phase {phase.index}: " + (" -> ".join(phase.names) or "(read only)"))


# ---------------------------------------------------------------------------- stages


@app.command()
def stages(
    name: Annotated[str | None, typer.Argument(help="Show one stage in detail.")] = None,
) -> None:
    """List the registered stages, readers and sinks with their parameters."""
    from corpusforge.pipeline.registry import all_readers, all_sinks, all_stages, get_stage

    try:
        chosen = {name: get_stage(name)} if name else all_stages()
    except CorpusforgeError as exc:
        _fail(exc)
    table = Table(show_lines=True)
    for col in ("stage", "kind", "parameters", "description"):
        table.add_column(col)
    for stage_name, cls in chosen.items():
        kind = "global" if cls.is_global else ("model" if cls.stateful else "task")
        table.add_row(stage_name, kind, _params_text(cls.Params), cls.description or "")
    out.print(table)
    if not name:
        out.print("readers: " + ", ".join(all_readers()), highlight=False)
        out.print("sinks: " + (", ".join(all_sinks()) or "(none)"), highlight=False)


def _params_text(model: Any) -> str:
    lines = []
    for pname, field in model.model_fields.items():
        default = "required" if field.is_required() else repr(field.default)
        hint = getattr(field.annotation, "__name__", None) or str(field.annotation)
        lines.append(f"{pname}: {hint.replace('typing.', '')} = {default}")
    return "\n".join(lines) or "-"


# ---------------------------------------------------------------------------- lineage


@app.command()
def lineage(
    out_dir: Annotated[Path, typer.Argument(help="A run's output folder.")],
    doc: Annotated[
        str | None, typer.Option("--doc", help="What happened to this document id.")
    ] = None,
    sql: Annotated[str | None, typer.Option("--sql", help="Run a read-only SQL query.")] = None,
    summary: Annotated[bool, typer.Option("--summary", help="Fates by stage and reason.")] = False,
) -> None:
    """Query a run's lineage (OUT/lineage.duckdb)."""
    from corpusforge.pipeline.lineage import query as lineage_query

    try:
        if doc:
            rows = lineage_query.document(out_dir, doc)
            if not rows:
                raise CorpusforgeError(f"no document with id {doc!r} in {out_dir}")
            for row in rows:
                _print_record(row)
        elif sql:
            cols, rows = lineage_query.sql(out_dir, sql)
            _print_rows(cols, rows)
        else:
            for title, (cols, rows) in lineage_query.summary(out_dir).items():
                _print_rows(cols, rows, title)
    except CorpusforgeError as exc:
        _fail(exc)


def _print_record(row: dict[str, Any]) -> None:
    table = Table(show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for k, v in row.items():
        table.add_row(k, "" if v is None else str(v))
    out.print(table)


def _print_rows(cols: list[str], rows: list[tuple], title: str | None = None) -> None:
    table = Table(title=title, title_justify="left")
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*["" if v is None else str(v) for v in r])
    out.print(table)


# ---------------------------------------------------------------------------- report


@app.command()
def report(
    out_dir: Annotated[Path, typer.Argument(help="A run's output folder.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write (default OUT/report.html)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="html, or json for machines.")] = "html",
    compare: Annotated[
        Path | None, typer.Option("--compare", help="Another run's output folder, side by side.")
    ] = None,
    samples: Annotated[
        bool | None,
        typer.Option(
            "--samples/--no-samples",
            help="Show a few rejected documents per reason (default: the run's setting).",
        ),
    ] = None,
    open_: Annotated[
        bool, typer.Option("--open", help="Open the HTML report in a browser.")
    ] = False,
) -> None:
    """Build the data-quality report of a run from its lineage."""
    from corpusforge.pipeline.report import report_json, write_report

    if fmt not in ("html", "json"):
        _fail(ConfigError("--format must be html or json"))
    try:
        cmp = str(compare) if compare else None
        if fmt == "json":
            text = report_json(str(out_dir), compare=cmp, samples=samples)
            if output:
                output.write_text(text + "\n", encoding="utf-8")
            else:
                sys.stdout.write(text + "\n")
            return
        path = write_report(
            str(out_dir), str(output) if output else None, compare=cmp, samples=samples
        )
    except CorpusforgeError as exc:
        _fail(exc)
    out.print(f"report: {path}", highlight=False)
    if open_:
        import webbrowser

        webbrowser.open(Path(path).resolve().as_uri())


# ---------------------------------------------------------------------------- init

STARTER = """\
# corpusforge starter config: `corpusforge run {name}`
name: my-corpus
input:
  paths: [data/]            # files, folders or globs; s3:// and gs:// work with fsspec
  format: auto              # jsonl, parquet, text, warc: chosen by file ending
  options:
    text_field: text        # where the text is in each record
    id_field: null          # use the record's own id; null derives one from path + index
output:
  path: out/my-corpus
  shard_size_mb: 256        # target size of kept Parquet shards
stages:
  - length_filter: {{min_chars: 200}}
"""


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path(
        "corpusforge.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter config."""
    if path.exists() and not force:
        _fail(ConfigError(f"{path} exists", hint="use --force to overwrite it"))
    path.write_text(STARTER.format(name=path.name), encoding="utf-8")
    out.print(f"wrote {path}; edit input.paths and run `corpusforge run {path}`", highlight=False)


app.command("tokens", help="Inspect token shards: counts, decoded samples, token sources.")(
    tokens_command
)


def main() -> None:
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        app()
    except SystemExit:
        raise
    except Exception as exc:  # last resort: never a raw traceback without --debug
        if _state["debug"] or "--debug" in sys.argv:
            raise
        err.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", highlight=False)
        err.print("[dim]hint:[/] re-run with --debug for the traceback", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()

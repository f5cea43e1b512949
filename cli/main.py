"""The `corpusforge` command: parses, calls corpusforge.pipeline, prints. Nothing more."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from corpusforge.cli.commands import audit as audit_command
from corpusforge.cli.commands import forget as forget_command
from corpusforge.cli.commands import inspect as inspect_commands
from corpusforge.cli.commands.tokens import tokens as tokens_command
from corpusforge.pipeline.api.errors import ConfigError, CorpusforgeError
from corpusforge.schemas import OUTPUT_STEPS, READ_STEPS

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


def _print_version(value: bool) -> None:
    if value:
        from corpusforge.pipeline.version import package_version

        sys.stdout.write(f"corpusforge {package_version()}\n")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    _state["debug"] = debug
    if debug:  # the engine shows Ray's own warnings and logs then
        os.environ["CORPUSFORGE_DEBUG"] = "1"


def _fail(exc: BaseException) -> NoReturn:
    """One clear line and a hint; the traceback only with --debug."""
    if _state["debug"]:
        raise exc
    if isinstance(exc, CorpusforgeError):
        # escaped: messages hold brackets (`corpusforge[warc]`) that are not rich markup
        err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        if exc.hint:
            err.print(f"[dim]hint:[/] {escape(exc.hint)}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code)
    text = escape(f"{type(exc).__name__}: {exc}")
    err.print(f"[bold red]error:[/] {text}", highlight=False, soft_wrap=True)
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
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Plain progress lines (logs, cluster jobs).")
    ] = False,
    ray_progress: Annotated[
        bool, typer.Option("--ray-progress", help="Also show Ray Data's own progress bars.")
    ] = False,
) -> None:
    """Run a pipeline: read, apply the stages, write outputs, lineage and report."""
    from corpusforge.pipeline.config import load_config
    from corpusforge.pipeline.engine.runner import Pipeline

    _log_progress(plain=quiet or not err.is_terminal)
    try:
        # our progress lines name our phases and stages; Ray Data's bars name its operators
        overrides = None if ray_progress else {"ray.progress": False}
        cfg = load_config(config, overrides=overrides)
        pipeline = Pipeline(
            cfg, inputs=input, output=output, ray_address=ray_address, resume=resume
        )
        with _sigterm_interrupts():
            result = pipeline.run()
    except (CorpusforgeError, OSError) as exc:
        _fail(exc)
    except KeyboardInterrupt as exc:
        err.print("interrupted: finished units are kept; run the same command again to resume")
        raise typer.Exit(143 if isinstance(exc, Terminated) else 130) from None
    print_summary(result)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's stop, `kill`, a container's shutdown), raised as an interrupt."""


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While a run is going, SIGTERM stops it the way Ctrl-C does: the runs row says
    ``interrupted``, the embedded Ray is stopped, and a re-run resumes. Python's default
    for SIGTERM is to die at once, leaving the row ``running``."""
    if sys.platform == "win32" or not _in_main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: Any) -> None:
        raise Terminated()

    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record, not at setup."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _log_progress(plain: bool) -> None:
    """Progress lines (counts, MB/s, ETA, seconds; never document text) on stderr: rich on a
    terminal, plain timestamped lines in a log or a cluster job's output."""
    from rich.logging import RichHandler

    logger = logging.getLogger("corpusforge")
    # One CLI handler per process, replaced on each command: a handler bound to the stderr of
    # an earlier invocation (a finished CliRunner, a redirected stream) must never be reused.
    for old in [h for h in logger.handlers if getattr(h, "corpusforge_cli", False)]:
        logger.removeHandler(old)
    if plain:
        handler: logging.Handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    else:
        handler = RichHandler(console=err, show_path=False, show_level=False, markup=False)
    handler.corpusforge_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _summary_rows(
    result: Any,
) -> list[tuple[str, str, int, int | None, int | None, float | None, float | None, list]]:
    """(stage, phase, docs in, kept, rejected, MB in, seconds, [(reason, n)]) per step."""
    by_stage: dict[str, list[tuple[str, int]]] = {}
    for key, n in result.rejects_by_reason.items():
        stage, _, reason = key.partition(":")
        by_stage.setdefault(stage, []).append((reason, n))
    read_reasons = by_stage.get("read", [])
    read_rejected = sum(n for _, n in read_reasons)
    reading = {s["kind"]: s for s in result.stages if s["kind"] in READ_STEPS}
    rows = [
        (
            step,
            "0",
            result.records,
            result.records - read_rejected,
            read_rejected,
            (reading[step]["bytes_in"] or 0) / 1e6 if step in reading else None,
            reading[step]["seconds"] if step in reading else None,
            read_reasons if step == "read" else [],
        )
        for step in READ_STEPS
        if step == "read" or step in reading
    ]
    for s in result.stages:
        if s["kind"] in reading:
            continue
        docs_in = s["docs_in_total"] if s["docs_in_total"] is not None else s["docs_in"]
        rejected = s["docs_rejected_total"] if s["docs_rejected_total"] is not None else 0
        engine_step = s["kind"] in OUTPUT_STEPS  # rows of every phase: no kept or rejected
        rows.append(
            (
                s["stage"],
                "all" if s["phase"] is None else str(s["phase"]),
                docs_in,
                None if engine_step else docs_in - rejected,
                None if engine_step else rejected,
                (s["bytes_in"] or 0) / 1e6,
                s["seconds"] or 0.0,
                by_stage.get(s["stage"], []),
            )
        )
    return rows


def print_summary(result: Any) -> None:
    """The per-step table (fits 80 columns: stage names whole, numbers short), then the top
    reject reasons of each step on their own lines."""
    table = Table(title=f"run {result.run_id}", title_justify="left", pad_edge=False)
    table.add_column("stage", no_wrap=True)
    for col in ("phase", "docs in", "kept", "rejected", "MB in", "s"):
        table.add_column(col, justify="right", no_wrap=True)
    rows = _summary_rows(result)
    for name, phase, docs_in, kept, rejected, mb, secs, _ in rows:
        table.add_row(
            name,
            phase,
            f"{docs_in:,}",
            "" if kept is None else f"{kept:,}",
            "" if rejected is None else f"{rejected:,}",
            "" if mb is None else f"{mb:,.1f}",
            "" if secs is None else f"{secs:,.1f}",
        )
    out.print(table)
    for name, *_, reasons in rows:
        if reasons:
            top = ", ".join(f"{r} {n:,}" for r, n in sorted(reasons, key=lambda x: -x[1])[:3])
            out.print(f"  {name}: {top}", highlight=False, soft_wrap=True)
    out.print(
        f"[bold]{result.records:,}[/] records from {result.units_total} files "
        f"({result.units_processed} processed, {result.units_skipped} done earlier): "
        f"[green]{result.kept:,} kept[/], [yellow]{result.rejected:,} rejected[/], "
        f"[red]{result.quarantined:,} quarantined[/] in {result.seconds:.1f} s",
        highlight=False,
    )
    from rich.markup import escape

    for error in getattr(result, "damaged_files", {}).values():
        out.print(f"[red]damaged input[/] {escape(error)}", highlight=False, soft_wrap=True)
    out.print(f"output: {result.output}", highlight=False, soft_wrap=True)
    out.print(f"lineage: {result.lineage_path}", highlight=False, soft_wrap=True)
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


@jobs_app.command("list")
def jobs_list(address: AddressOpt = None) -> None:
    """List the cluster's jobs: id, status and config, oldest first."""
    from corpusforge.pipeline.backends.ray import submit as submit_module

    try:
        rows = submit_module.list_jobs(address)
    except CorpusforgeError as exc:
        _fail(exc)
    for jid, status, config in rows:
        sys.stdout.write(f"{jid}\t{status}\t{config}\n")


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


inspect_commands.register(app, _fail)
forget_command.register(app, _fail)
audit_command.register(app, _fail)


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
        _open_in_browser(Path(path))


def _open_in_browser(path: Path) -> None:
    """Open the report, or say why not (no display, no browser) and where the file is."""
    import webbrowser

    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    try:
        opened = not headless and webbrowser.open(path.resolve().as_uri())
    except webbrowser.Error:
        opened = False
    if not opened:
        why = "no display (DISPLAY is not set)" if headless else "no browser found"
        err.print(
            f"cannot open a browser: {why}; open {path.resolve()} yourself",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


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


@app.command()
def warmup(
    config: Annotated[Path, typer.Argument(help="YAML config whose stages to compile.")],
) -> None:
    """Compile the config's kernels ahead of its first run (a run on generated documents).

    The compiled stages cache their machine code on disk (numba); the first run on a machine
    compiles it in every worker that starts at once. Run this once after installing, or
    when building an image (with NUMBA_CACHE_DIR set to a folder the image keeps)."""
    from corpusforge.pipeline.config import load_config
    from corpusforge.pipeline.engine.warmup import cache_location, warm_up

    _log_progress(plain=True)
    logging.getLogger("corpusforge").setLevel(logging.WARNING)  # the generated run's lines
    try:
        result = warm_up(load_config(config))
    except (CorpusforgeError, OSError) as exc:
        _fail(exc)
    idle = [name for name, n in result.docs_in.items() if n == 0]
    out.print(
        f"warm: {len(result.docs_in)} stages ran on {result.documents} generated documents in "
        f"{result.seconds:.1f} s; compiled code is cached {cache_location()}",
        highlight=False,
        soft_wrap=True,
    )
    if idle:  # their filters before them kept none of the generated documents
        err.print(f"note: no document reached {', '.join(idle)}; they stay cold", highlight=False)


app.command("tokens", help="Inspect token shards: counts, decoded samples, token sources.")(
    tokens_command
)


def main() -> None:
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        app()
    except SystemExit:
        raise
    except BrokenPipeError:  # `corpusforge ... | head`: the reader had enough, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except Exception as exc:  # last resort: never a raw traceback without --debug
        if _state["debug"] or "--debug" in sys.argv:
            raise
        text = escape(f"{type(exc).__name__}: {exc}")
        err.print(f"[bold red]error:[/] {text}", highlight=False, soft_wrap=True)
        err.print("[dim]hint:[/] re-run with --debug for the traceback", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()

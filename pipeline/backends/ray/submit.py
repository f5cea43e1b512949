"""Run a config on a Ray cluster through Ray's Job Submission API.

``corpusforge submit`` does not connect to the cluster as a Ray client: it uploads a small
*job package* (the config, rewritten so every path means the same thing on the cluster, and
the user's plugin modules) as the job's ``working_dir`` and starts
``python -m corpusforge.cli.main run corpusforge-job.yaml`` on the head node. That driver then
runs exactly like a local run connected to the cluster, so resume, lineage and conservation
work the same.

What travels with the job (the runtime environment):

- ``working_dir``: the job package, built in a temporary folder (config + single-file plugin
  modules found next to the config or on ``sys.path``);
- ``py_modules``: plugin *packages* (folders) and anything given with ``--py-module`` (a
  folder, a ``.py`` file or a built ``.whl``, e.g. a corpusforge wheel for a dev cluster);
- ``env_vars``: only the variables named with ``--env NAME``, copied from the submitting
  shell at submit time. Credentials go this way, never in the config or the entrypoint; a
  config that carries something that looks like a secret is refused.

corpusforge itself must be installed on the nodes (the Docker image does that) at the same
version as the submitter.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from corpusforge.pipeline.api.errors import ConfigError, CorpusforgeError
from corpusforge.pipeline.backends.ray import job_auth

JOB_CONFIG = "corpusforge-job.yaml"
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")

# key names that hold credentials; matched on whole `_`/`-` separated words so that
# tokenizer settings (`eos_token`, `max_tokens`) do not trip it
_SECRET_KEY = re.compile(
    r"(^|[_-])(secret|password|passwd|api[_-]?key|access[_-]?key(?:[_-]?id)?|secret[_-]?key|"
    r"private[_-]?key|session[_-]?token|auth[_-]?token|credentials?)($|[_-])",
    re.IGNORECASE,
)
# values that are credentials whatever their key: AWS key ids, URLs with a password
_SECRET_VALUE = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b|://[^/\s:@]+:[^/\s@]+@")


def find_secrets(data: Any, path: str = "") -> list[str]:
    """Config locations (dotted key paths, never values) that look like plain-text secrets."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if _SECRET_KEY.search(str(key)) and isinstance(value, str | int) and value != "":
                found.append(where)
            else:
                found.extend(find_secrets(value, where))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found.extend(find_secrets(value, f"{path}[{i}]"))
    elif isinstance(data, str) and _SECRET_VALUE.search(data):
        found.append(path)
    return found


def check_no_secrets(data: dict[str, Any]) -> None:
    found = find_secrets(data)
    if found:
        raise ConfigError(
            "the config holds what looks like credentials in plain text at: " + ", ".join(found),
            hint="remove them and pass credentials as environment variables with --env NAME",
        )


def _is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _stage_params(entry: Any) -> dict[str, Any] | None:
    """The params mapping of a stage entry in any of the config's spellings."""
    if isinstance(entry, dict) and isinstance(entry.get("params"), dict):
        return entry["params"]
    if isinstance(entry, dict) and len(entry) == 1:
        (value,) = entry.values()
        return value if isinstance(value, dict) else None
    return None


def _absolute(path: str, base: Path) -> str:
    """Local paths made absolute (the driver on the cluster runs in another folder)."""
    if _is_url(path):
        return path
    if path.startswith("file://"):
        path = path[len("file://") :]
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def job_config(
    config_path: Path,
    *,
    inputs: list[str] | None = None,
    output: str | None = None,
) -> dict[str, Any]:
    """The config as the cluster driver will run it.

    Relative input and output paths are resolved against the current directory (as a local
    run would) and so must be on storage every node sees (a shared filesystem); object
    storage URLs pass unchanged. ``ray.address`` is dropped: the job's driver joins the
    cluster it runs on.
    """
    from corpusforge.pipeline.config import load_config

    load_config(config_path)  # validate here: a bad config should fail before upload
    data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    check_no_secrets(data)
    base = Path.cwd()
    data.setdefault("input", {})
    data.setdefault("output", {})
    data["input"]["paths"] = [_absolute(p, base) for p in (inputs or data["input"]["paths"])]
    data["output"]["path"] = _absolute(output or data["output"]["path"], base)
    for entry in data.get("stages") or []:
        params = _stage_params(entry)
        if params and params.get("dedup_against"):
            params["dedup_against"] = [_absolute(p, base) for p in params["dedup_against"]]
    ray_cfg = data.get("ray") or {}
    ray_cfg.pop("address", None)
    ray_cfg.pop("num_cpus", None)  # a local-Ray setting; the cluster has its own
    ray_cfg.pop("object_store_memory_mb", None)
    data["ray"] = ray_cfg
    return data


def locate_plugins(names: Iterable[str], search: list[Path]) -> tuple[list[Path], list[Path]]:
    """Find user plugin modules: (single .py files, package folders) to ship with the job.

    Modules from installed distributions (site-packages) are expected on the nodes already
    (put them in the image) and are not shipped.
    """
    files: list[Path] = []
    packages: list[Path] = []
    for name in names:
        top = name.split(".")[0]
        origin = None
        for folder in search:
            if (folder / f"{top}.py").is_file():
                origin = folder / f"{top}.py"
                break
            if (folder / top / "__init__.py").is_file():
                origin = folder / top / "__init__.py"
                break
        if origin is None:
            old = list(sys.path)
            sys.path[:0] = [str(f) for f in search]
            try:
                spec = importlib.util.find_spec(top)
            finally:
                sys.path[:] = old
            if spec is None or spec.origin in (None, "built-in", "frozen"):
                raise ConfigError(
                    f"plugin module {name!r} not found",
                    hint="run submit from the folder that holds it, or pass --py-module PATH",
                )
            origin = Path(spec.origin)
            if "site-packages" in origin.parts or "dist-packages" in origin.parts:
                continue
        if origin.name == "__init__.py":
            packages.append(origin.parent)
        else:
            files.append(origin)
    return files, packages


def build_job_package(
    config_path: Path,
    cfg_data: dict[str, Any],
    package_dir: Path,
    *,
    py_modules: Iterable[str] = (),
    env: Iterable[str] = (),
    base_runtime_env: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write the job package into ``package_dir``; return the job's runtime_env."""
    environ = dict(os.environ if environ is None else environ)
    runtime_env = dict(base_runtime_env or {})
    if "working_dir" in runtime_env:
        raise ConfigError(
            "--runtime-env must not set working_dir: corpusforge ships the job package there",
            hint="use py_modules (or --py-module) for extra code",
        )
    package_dir.mkdir(parents=True, exist_ok=True)
    (package_dir / JOB_CONFIG).write_text(yaml.safe_dump(cfg_data, sort_keys=False), "utf-8")
    search = [config_path.resolve().parent, Path.cwd()]
    files, packages = locate_plugins(cfg_data.get("plugins") or [], search)
    for f in files:
        shutil.copy2(f, package_dir / f.name)
    modules = [str(p) for p in packages]
    for m in py_modules:
        if not Path(m).exists() and "://" not in m:
            raise ConfigError(f"--py-module {m}: no such file or folder")
        modules.append(str(Path(m).resolve()) if "://" not in m else m)
    modules += list(runtime_env.get("py_modules") or [])
    env_vars = dict(runtime_env.get("env_vars") or {})
    for name in env:
        if "=" in name:
            raise ConfigError(
                f"--env {name.split('=', 1)[0]}=...: give only the variable's name",
                hint="its value is copied from your environment, so it is not typed on a "
                "command line or stored in shell history",
            )
        if name not in environ:
            raise ConfigError(f"--env {name}: not set in this environment")
        if name == job_auth.TOKEN_ENV:
            raise ConfigError(
                f"--env {name}: the cluster's token is not shipped with a job",
                hint="the job's driver runs on the head, which holds the token already",
            )
        env_vars[name] = environ[name]
    runtime_env["working_dir"] = str(package_dir)
    if modules:
        runtime_env["py_modules"] = modules
    if env_vars:
        runtime_env["env_vars"] = env_vars
    return runtime_env


def entrypoint(resume: bool = True) -> str:
    """The command the job runs on the head node (holds no paths, values or secrets)."""
    parts = ["python", "-m", "corpusforge.cli.main", "run", JOB_CONFIG, "--quiet"]
    if not resume:
        parts.append("--no-resume")
    return " ".join(parts)


def load_runtime_env(spec: str | None) -> dict[str, Any]:
    """``--runtime-env``: a YAML/JSON file or an inline JSON object."""
    if not spec:
        return {}
    try:
        is_file = Path(spec).is_file()
    except OSError:  # inline JSON longer than a file name may be
        is_file = False
    text = Path(spec).read_text(encoding="utf-8") if is_file else spec
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--runtime-env: not YAML/JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError("--runtime-env: expected a mapping (a file or a JSON object)")
    check_no_secrets({k: v for k, v in data.items() if k != "env_vars"})
    if data.get("env_vars"):
        raise ConfigError(
            "--runtime-env must not carry env_vars",
            hint="pass environment variables by name with --env NAME",
        )
    return data


@contextmanager
def _authenticated(address: str | None) -> Iterator[None]:
    """Ray's authentication errors (a head with token auth) as one line naming what to set."""
    try:
        yield
    except Exception as exc:
        mapped = job_auth.auth_failure(exc, address)
        if mapped is None:
            raise
        raise mapped from None


def client(address: str | None) -> Any:
    from ray.job_submission import JobSubmissionClient

    try:
        with _authenticated(address):
            return JobSubmissionClient(address, headers=job_auth.auth_headers())
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise CorpusforgeError(
            f"cannot reach the Ray job server at {address or '$RAY_ADDRESS'}: {type(exc).__name__}",
            hint="give the dashboard address, e.g. --address http://HEAD:8265",
        ) from None


def submit(
    config_path: Path,
    address: str | None,
    *,
    inputs: list[str] | None = None,
    output: str | None = None,
    resume: bool = True,
    py_modules: Iterable[str] = (),
    env: Iterable[str] = (),
    runtime_env: str | None = None,
    job_id: str | None = None,
) -> str:
    """Submit a run; returns the job id (Ray's submission id)."""
    cfg_data = job_config(config_path, inputs=inputs, output=output)
    base = load_runtime_env(runtime_env)
    jc = client(address)
    with tempfile.TemporaryDirectory(prefix="corpusforge-job-") as tmp:
        renv = build_job_package(
            config_path, cfg_data, Path(tmp), py_modules=py_modules, env=env, base_runtime_env=base
        )
        with _authenticated(address):
            return jc.submit_job(
                entrypoint=entrypoint(resume),
                runtime_env=renv,
                submission_id=job_id,
                metadata={
                    "corpusforge_config": config_path.name,
                    "name": str(cfg_data.get("name")),
                },
            )


def status(address: str | None, job_id: str) -> str:
    with _authenticated(address):
        return str(client(address).get_job_status(job_id).value)


def logs(address: str | None, job_id: str) -> str:
    with _authenticated(address):
        return client(address).get_job_logs(job_id)


def list_jobs(address: str | None) -> list[tuple[str, str, str]]:
    """(job id, status, config name) of the cluster's submitted jobs, oldest first."""
    with _authenticated(address):
        jobs = client(address).list_jobs()
    jobs = sorted(jobs, key=lambda j: j.start_time or 0)
    return [
        (
            str(j.submission_id or j.job_id),
            str(j.status.value),
            (j.metadata or {}).get("corpusforge_config", ""),
        )
        for j in jobs
    ]


def stop(address: str | None, job_id: str) -> bool:
    with _authenticated(address):
        return bool(client(address).stop_job(job_id))


def follow(address: str | None, job_id: str, write: Callable[[str], Any]) -> str:
    """Stream the job's logs until it ends; returns its final status."""
    jc = client(address)

    async def tail() -> None:
        async for chunk in jc.tail_job_logs(job_id):
            write(chunk)

    with _authenticated(address):
        asyncio.run(tail())
    # the log stream closes when the job ends; its status may lag a moment behind
    import time

    for _ in range(100):
        st = str(jc.get_job_status(job_id).value)
        if st in TERMINAL:
            return st
        time.sleep(0.2)
    return st

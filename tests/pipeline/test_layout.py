"""The package's boundaries, enforced: Ray lives in one backend, stages see only the API."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "stages", "cli", "schemas")
# what a stage module may import from the engine side
STAGE_ALLOWED = ("corpusforge.pipeline.api", "corpusforge.pipeline.io", "corpusforge.schemas")


def _imports(path: Path) -> list[str]:
    """Every module a file imports (absolute names), wherever the import statement is."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_ray_is_imported_only_in_the_ray_backend() -> None:
    backend = ROOT / "pipeline" / "backends" / "ray"
    offenders = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in _sources(package)
        if backend not in path.parents
        and any(n == "ray" or n.startswith("ray.") for n in _imports(path))
    ]
    assert offenders == []


def test_stage_modules_import_only_the_api_from_the_engine() -> None:
    offenders = []
    for path in _sources("stages"):
        for name in _imports(path):
            if name.startswith("corpusforge.pipeline") and not name.startswith(STAGE_ALLOWED):
                # `from corpusforge.pipeline import api` style is not used; names must be exact
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_engine_lineage_and_report_name_no_stage_module() -> None:
    """The engine side knows stages only through the registry and the API."""
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _sources("pipeline")
        for name in _imports(path)
        if name.startswith("corpusforge.stages")
    ]
    assert offenders == []


def test_importing_the_stage_api_loads_neither_duckdb_nor_ray() -> None:
    code = (
        "import sys, corpusforge.pipeline.api, corpusforge.pipeline.io.fsutil; "
        "print(sorted(m for m in ('ray', 'duckdb', 'corpusforge.pipeline.engine.runner') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"

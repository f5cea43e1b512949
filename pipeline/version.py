"""corpusforge's version, from the installed package's metadata (pyproject.toml's version)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    try:
        return version("corpusforge")
    except PackageNotFoundError:  # a bare checkout on sys.path, never installed
        return "0+unknown"


VERSION = package_version()

"""Stages and readers by name, as YAML refers to them.

A built-in registers when its module is imported; ``corpusforge.stages`` names those modules,
and a lookup imports only the one it needs (a process that runs no ``pii`` never imports
Presidio). Third-party packages register through the ``corpusforge.stages`` entry-point group:
each entry point names a module (imported for its ``@stage``/``register_stage`` side effects)
or a callable returning stage classes; they load at the first lookup.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.pipeline.api.stage import Stage

ENTRY_POINT_GROUP = "corpusforge.stages"
BUILTIN_PACKAGE = "corpusforge.stages"

_STAGES: dict[str, type[Stage]] = {}
_READERS: dict[str, type[Any]] = {}
_SINKS: dict[str, type[Any]] = {}
_loaded = False


def register_stage(cls: type[Stage]) -> type[Stage]:
    """Register a Stage subclass under ``cls.name`` (usable as a class decorator)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name; set the class attribute `name`")
    existing = _STAGES.get(cls.name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"stage name {cls.name!r} is taken by {existing.__module__}")
    _STAGES[cls.name] = cls
    return cls


def register_reader(cls: type[Any]) -> type[Any]:
    """Register a Reader subclass under its format name ``cls.name`` (a class decorator)."""
    _READERS[cls.name] = cls
    return cls


def register_sink(cls: type[Any]) -> type[Any]:
    """Register an output sink (e.g. token shards) under ``cls.name``."""
    _SINKS[cls.name] = cls
    return cls


def load_plugins() -> None:
    """Import every entry point of the group (third-party stages), once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if callable(obj) and not isinstance(obj, type):
            for cls in obj() or ():
                register_stage(cls)


def _builtins() -> Any:
    """``corpusforge.stages``: its tables name the built-ins' modules (the package imports
    nothing else; the engine knows the stages only by these names)."""
    return importlib.import_module(BUILTIN_PACKAGE)


def _import_all(modules: Iterable[str]) -> None:
    for module in modules:
        importlib.import_module(module)


def load_builtins() -> None:
    """Import every built-in stage, reader and sink (listings, unknown names)."""
    stages = _builtins()
    _import_all(sorted(set(stages.STAGE_MODULES.values())))
    _import_all(stages.READER_MODULES + stages.SINK_MODULES)


def load_report_sections() -> None:
    """Import the stage families' report sections, which register themselves."""
    stages = _builtins()
    load_plugins()
    _import_all(stages.REPORT_SECTION_MODULES)


def import_modules(modules: list[str]) -> None:
    """Import user modules named in the config (`plugins:`) so their stages register."""
    for mod in modules:
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            raise ConfigError(
                f"plugins: cannot import module {mod!r}: {exc}",
                hint="make it importable on the driver and workers (PYTHONPATH or pip install)",
            ) from exc


def get_stage(name: str) -> type[Stage]:
    stages = _builtins()
    load_plugins()
    if name not in _STAGES and name in stages.STAGE_MODULES:
        importlib.import_module(stages.STAGE_MODULES[name])
    try:
        return _STAGES[name]
    except KeyError:
        load_builtins()
        known = ", ".join(sorted(_STAGES)) or "(none)"
        raise ConfigError(f"unknown stage {name!r}", hint=f"registered stages: {known}") from None


def _readers() -> dict[str, type[Any]]:
    stages = _builtins()
    load_plugins()
    _import_all(stages.READER_MODULES)
    return _READERS


def get_reader(fmt: str) -> type[Any]:
    readers = _readers()
    try:
        return readers[fmt]
    except KeyError:
        known = ", ".join(sorted(readers)) or "(none)"
        raise ConfigError(f"unknown input format {fmt!r}", hint=f"known formats: {known}") from None


def get_sink(name: str) -> type[Any]:
    stages = _builtins()
    load_plugins()
    _import_all(stages.SINK_MODULES)
    try:
        return _SINKS[name]
    except KeyError:
        known = ", ".join(sorted(_SINKS)) or "(none)"
        raise ConfigError(f"unknown output {name!r}", hint=f"known outputs: {known}") from None


def detect_format(path: str) -> str:
    """The reader whose file ending matches ``path`` best (longest ending wins)."""
    _readers()
    # the file name of a path or URL, without a query string (signed object-store URLs)
    name = path.split("?", 1)[0].lower().rsplit("/", 1)[-1]
    best, best_len = None, 0
    for fmt, cls in _READERS.items():
        for ending in getattr(cls, "extensions", ()):
            if name.endswith(ending.lower()) and len(ending) > best_len:
                best, best_len = fmt, len(ending)
    if best is None:
        endings = sorted({e for c in _READERS.values() for e in getattr(c, "extensions", ())})
        raise ConfigError(
            f"cannot tell the format of {path}",
            hint=f"set input.format; known endings: {', '.join(endings)}",
        )
    return best


def all_stages() -> dict[str, type[Stage]]:
    load_plugins()
    load_builtins()
    return dict(sorted(_STAGES.items()))


def all_readers() -> dict[str, type[Any]]:
    return dict(sorted(_readers().items()))


def all_sinks() -> dict[str, type[Any]]:
    load_plugins()
    load_builtins()
    return dict(sorted(_SINKS.items()))

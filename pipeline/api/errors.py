"""Errors a user sees as one clear line plus a hint (the CLI maps them to exit codes)."""

from __future__ import annotations

NOTE_PREFIX = "corpusforge: "


class CorpusforgeError(Exception):
    """Base: a message for the user and an optional hint on what to do."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # a traceback note: a Ray worker's error comes back to the driver as text only, and
        # the engine reads the exit code and hint from this line (see backends/ray/executor)
        self.add_note(f"{NOTE_PREFIX}exit {self.exit_code}; hint: {hint or ''}")

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple:
        # the hint travels too when the error object is pickled (Ray actors, processes)
        return (self.__class__, (self.message, self.hint))


class ConfigError(CorpusforgeError):
    """The configuration or the command line is wrong (exit code 2)."""

    exit_code = 2


class InputError(CorpusforgeError):
    """An input cannot be read at all (missing path, unreadable file)."""


class RunError(CorpusforgeError):
    """The run failed: a stage crashed, or conservation does not hold."""


class StageContractError(RunError):
    """A stage broke the contract (dropped, added or reordered rows)."""


class ConservationError(RunError):
    """Some input records ended neither kept, rejected nor quarantined."""


def require_extra(modules: tuple[str, ...], extra: str, what: str) -> None:
    """Raise a one-line ConfigError naming the corpusforge extra that installs ``modules``
    (checked without importing them) when one is missing: ``what`` needs it."""
    import importlib.util

    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise ConfigError(
                f"{what} needs the {extra!r} extra ({module} is not installed)",
                hint=f"pip install 'corpusforge[{extra}]'",
            )

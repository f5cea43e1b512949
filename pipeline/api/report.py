"""Report sections that stage families contribute to ``report.html`` and its JSON form.

The report engine knows only the document schema: the funnel, signals, lengths, outputs,
stages and inputs. A stage family that adds columns worth a section of their own (languages,
duplicate clusters, PII counts, tokens) registers a :class:`ReportSection`: a ``data``
function that asks the run's lineage for aggregates through a :class:`ReportQuery`, and an
``html`` function that renders them with the :class:`ReportKit`'s tables and charts. A
section's data is ``None`` when the run has none of its columns; its html must cope.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class ReportQuery(Protocol):
    """Read-only questions to a run's lineage (DuckDB SQL over its tables)."""

    columns: dict[str, str]  # column -> DuckDB type of the `documents` table
    tables: set[str]
    funnel: list[dict[str, Any]]  # one row per step: stage, docs_in, docs_out, reasons, ...

    def rows(self, sql: str) -> list[dict[str, Any]]: ...
    def scalar(self, sql: str) -> Any: ...
    def histogram(self, column: str, log: bool = False) -> dict[str, Any] | None: ...


class ReportKit(Protocol):
    """Building blocks of the HTML page; every value passed in is escaped."""

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str: ...
    def absent(self, message: str) -> str: ...
    def text(self, value: Any) -> str: ...
    def number(self, value: Any) -> str: ...
    def mb(self, value: Any) -> str: ...
    def percent(self, part: float, whole: float) -> str: ...
    def fates_chart(self, name: str, rows: list[dict[str, Any]], key: str, title: str) -> str: ...
    def bar_chart(
        self,
        name: str,
        rows: list[dict[str, Any]],
        x: str,
        y: str,
        title: str,
        *,
        horizontal: bool = False,
        color: str | None = None,
    ) -> str: ...
    def histogram_chart(self, name: str, hist: dict[str, Any] | None, title: str) -> str: ...


@dataclass(frozen=True)
class ReportSection:
    """One section: ``key`` names it in the JSON report and as the HTML anchor."""

    key: str
    title: str
    data: Callable[[ReportQuery], Any]
    html: Callable[[Any, ReportKit], str]
    # columns the section presents itself: left out of the generic signal histograms
    columns: tuple[str, ...] = ()
    column_pattern: str | None = None  # a regex for families of columns (e.g. per-type counts)
    # place on the page: the engine's sections are 10 (overview) ... 100 (samples)
    order: int = 50
    # one line for the terminal after a run (`corpusforge run`), from the section's data
    highlight: Callable[[Any], str | None] | None = None


_SECTIONS: dict[str, ReportSection] = {}


def register_report_section(section: ReportSection) -> ReportSection:
    """Add (or replace, by key) a section of every report."""
    _SECTIONS[section.key] = section
    return section


def report_sections() -> list[ReportSection]:
    return sorted(_SECTIONS.values(), key=lambda s: (s.order, s.key))


def presented_by_section(column: str) -> bool:
    """Whether a registered section shows ``column`` itself (not as a generic signal)."""
    return any(
        column in s.columns or (s.column_pattern and re.match(s.column_pattern, column))
        for s in _SECTIONS.values()
    )

"""Terminal rendering of the CLI's tables: readable at 80 columns, nothing cut.

Numbers are formatted for people (thousands separators, at most 3 decimals), long cells fold
instead of being cut with an ellipsis, and machine formats (CSV, JSON) print values as they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

FORMATS = ("table", "csv", "json")


def cell(value: Any) -> str:
    """One value for a terminal table."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float | decimal.Decimal):
        value = float(value)
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.3f}" if abs(value) >= 1 else f"{value:.3g}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


def rows_table(cols: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None):
    """A table whose numeric columns are right-aligned and whose text cells fold."""
    table = Table(title=title, title_justify="left", expand=False, pad_edge=False)
    numeric = [
        bool(rows) and all(_is_number(r[i]) or r[i] is None for r in rows) for i in range(len(cols))
    ]
    for c, num in zip(cols, numeric, strict=True):
        table.add_column(c, justify="right" if num else "left", overflow="fold")
    for r in rows:
        table.add_row(*[cell(v) for v in r])
    return table


def _json_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def write_rows(
    console: Console, cols: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str = "table"
) -> None:
    """Rows as a table (for people), CSV or JSON lines (for machines) on stdout."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        writer.writerows(["" if v is None else v for v in r] for r in rows)
        sys.stdout.write(buf.getvalue())
    elif fmt == "json":
        for r in rows:
            record = {c: _json_value(v) for c, v in zip(cols, r, strict=True)}
            sys.stdout.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    else:
        console.print(rows_table(cols, rows))


# ---------------------------------------------------------------- parameters of stages


def type_name(annotation: Any) -> str:
    """``list[str] | None`` rather than ``typing.Optional[typing.List[str]]``."""
    text = getattr(annotation, "__name__", None)
    if text is None or getattr(annotation, "__args__", None):
        text = str(annotation)
    text = re.sub(r"\btyping\.", "", text)
    text = re.sub(r"Literal\[[^\]]*\]", "choice", text)
    text = re.sub(r"\b(?:[a-z_]+\.)+([A-Z]\w*)", r"\1", text)  # module paths of classes
    return text.replace("NoneType", "None")


def choices(annotation: Any) -> list[str]:
    """The values of a ``Literal[...]`` (also inside ``X | None``)."""
    from typing import Literal, get_args, get_origin

    if get_origin(annotation) is Literal:
        return [repr(a) if not isinstance(a, str) else a for a in get_args(annotation)]
    found: list[str] = []
    for arg in get_args(annotation):
        found += choices(arg)
    return found


def default_text(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return repr(field.default_factory())
    return repr(field.default)


def field_comments(model: type) -> dict[str, str]:
    """Trailing ``# comments`` of the fields in the class source: most stage parameters are
    documented that way."""
    import inspect

    docs: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        for line in lines:
            m = re.match(r"\s+(\w+)\s*:[^#]*#\s*(.+)$", line)
            if m and not m.group(2).startswith(("noqa", "type:")):
                docs[m.group(1)] = m.group(2).strip()
    return docs


def param_rows(model: type) -> list[tuple[str, str, str, str, str]]:
    """(name, type, default, choices, doc) per parameter of a pydantic Params model."""
    comments = field_comments(model)
    rows = []
    for name, field in model.model_fields.items():
        doc = field.description or comments.get(name, "")
        rows.append(
            (
                name,
                type_name(field.annotation),
                default_text(field),
                ", ".join(choices(field.annotation)),
                doc,
            )
        )
    return rows

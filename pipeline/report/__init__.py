"""The data-quality report of a run: ``OUT/report.html`` (and its JSON form).

``data`` (DuckDB queries over the lineage -> dict) feeds ``html`` (static SVG
charts, inline CSS, no script). The runner calls ``write_report(out_dir)`` at the end of every
run when ``output.report`` is true; ``corpusforge report OUT`` calls it again at any time.
"""

from __future__ import annotations

import json
import os
from typing import Any

from corpusforge.pipeline.io import fsutil
from corpusforge.pipeline.report.data import report_data
from corpusforge.pipeline.report.governance import governance_data as _governance  # noqa: F401

REPORT_FILE = "report.html"

__all__ = ["REPORT_FILE", "report_data", "report_json", "write_report"]


def write_report(
    out_dir: str,
    output: str | None = None,
    compare: str | None = None,
    samples: bool | None = None,
) -> str:
    """Write the HTML report of the run in ``out_dir`` and return its path.

    ``output`` defaults to ``OUT/report.html``; ``compare`` is a second run's output folder,
    shown side by side; ``samples`` overrides the run's ``output.report_samples``.
    """
    from corpusforge.pipeline.report.html import render_html

    data = report_data(out_dir, samples=samples)
    other = report_data(compare, samples=samples) if compare else None
    page = render_html(data, other)
    path = output or os.path.join(str(out_dir), REPORT_FILE)
    fsutil.atomic_write_bytes(path, page.encode("utf-8"))
    return str(path)


def report_json(out_dir: str, compare: str | None = None, samples: bool | None = None) -> str:
    data: dict[str, Any] = report_data(out_dir, samples=samples)
    if compare:
        data = {"a": data, "b": report_data(compare, samples=samples)}
    return json.dumps(data, indent=2, sort_keys=False)

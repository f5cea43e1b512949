"""A stage's own figures (Stage.take_metrics) reach lineage's stage_stats and the report.

A real run on the shared local Ray: a test stage reports a count, a peak and a weighted mean
per batch; lineage must hold their exact combination over batches and workers. The tokenize
stage runs beside it on the CPU (``device: auto`` without a GPU): no figures of its own, so its
``metrics`` stay NULL and the report says it ran on the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from corpusforge.pipeline.api import Metric, Stage, StageContractError
from corpusforge.pipeline.engine.execute import (
    StageStats,
    apply_stage,
    combine_metric,
    encode_stats,
    merge_stats,
)
from corpusforge.pipeline.engine.runner import Pipeline
from corpusforge.pipeline.report.data import report_data
from corpusforge.schemas import Col


class CountingStage(Stage):
    """Reports per batch: rows (sum), the longest text in bytes (max), mean bytes (mean)."""

    name = "test_counting"

    def process(self, batch: pa.Table) -> pa.Table:
        sizes = pc.binary_length(batch.column(Col.TEXT)).to_pylist()
        self._last = (len(sizes), max(sizes), sum(sizes) / len(sizes))
        return batch

    def take_metrics(self) -> dict[str, Metric]:
        rows, longest, mean = self._last
        return {
            "rows_seen": Metric(rows),
            "longest_bytes": Metric(longest, "max"),
            "mean_bytes": Metric(mean, "mean", rows),
        }


class BadMetricStage(CountingStage):
    name = "test_bad_metric"

    def take_metrics(self) -> dict[str, Metric]:
        return {"nan": Metric(float("nan"))}


def test_metrics_combine_as_declared() -> None:
    a = {"value": 10.0, "how": "mean", "weight": 1.0}
    b = {"value": 40.0, "how": "mean", "weight": 2.0}
    assert combine_metric(a, b) == {"value": 30.0, "how": "mean", "weight": 3.0}
    assert combine_metric({**a, "how": "max"}, b)["value"] == 40.0
    assert combine_metric({**a, "how": "sum"}, b)["value"] == 50.0
    # through the JSON that travels with the rows, and summed like the counters
    one = StageStats(docs_in=1, metrics={"m": a})
    two = StageStats(docs_in=2, metrics={"m": b})
    total = merge_stats([encode_stats({"s": one}), encode_stats({"s": two})])["s"]
    assert total.docs_in == 3 and total.metric_values() == {"m": 30.0}
    assert merge_stats([encode_stats({"s": StageStats(docs_in=1)})])["s"].metrics == {}


def test_a_bad_metric_is_a_contract_error() -> None:
    table = pa.table({Col.ID: ["a"], Col.TEXT: ["x"]})
    with pytest.raises(StageContractError, match=r"test_bad_metric.*'nan'"):
        apply_stage(BadMetricStage(), table)


def write_inputs(folder: Path, files: int = 2, lines: int = 30) -> list[int]:
    """JSONL inputs of generated text; the byte size of every document."""
    folder.mkdir(parents=True)
    sizes = []
    for k in range(files):
        texts = [f"file {k} document {i} " + "word " * (i % 7 + 1) for i in range(lines)]
        sizes += [len(t.encode()) for t in texts]
        rows = "".join(json.dumps({"text": t}) + "\n" for t in texts)
        (folder / f"part{k}.jsonl").write_text(rows, encoding="utf-8")
    return sizes


@pytest.mark.usefixtures("ray_session")
def test_stage_metrics_reach_lineage_and_report(tmp_path: Path) -> None:
    sizes = write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    cfg = {
        "input": {"paths": [str(tmp_path / "in")], "options": {"batch_rows": 8}},
        "output": {"path": str(out)},
        "stages": [{"tokenize": {"tokenizer": "gpt2", "device": "auto"}}],
        "ray": {"progress": False},
    }
    Pipeline(cfg, extra_stages=[CountingStage()]).run()

    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    rows = con.execute(
        "SELECT stage, metrics, mb_per_s, bytes_in, seconds FROM stage_stats ORDER BY position"
    ).fetchall()
    con.close()
    by_stage = {r[0]: r for r in rows}
    metrics = json.loads(by_stage["test_counting"][1])
    assert metrics["rows_seen"] == len(sizes)
    assert metrics["longest_bytes"] == max(sizes)
    assert metrics["mean_bytes"] == pytest.approx(sum(sizes) / len(sizes))
    assert by_stage["tokenize"][1] is None  # on the CPU: no figures, no made-up zeros
    for stage, _, mb_per_s, bytes_in, seconds in rows:
        assert mb_per_s == pytest.approx(bytes_in / 1e6 / seconds), stage

    tokens = report_data(out, samples=False)["tokens"]
    assert tokens["devices"] == [
        {
            "stage": "tokenize",
            "mb_per_s": pytest.approx(by_stage["tokenize"][2]),
            "device": "CPU",
            "gpu_busy_pct": None,
            "gpu_busy_max_pct": None,
            "gpu_mem_peak_gb": None,
        }
    ]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Tokenized on the CPU: no GPU figures." in html
    assert "NVML" not in html

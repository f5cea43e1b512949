"""A tiny reader and stages used by the engine tests (the extension points, exercised)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import fsspec
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline import (
    GlobalStage,
    Stage,
    StageParams,
    register_reader,
    register_stage,
    reject,
    stage,
)
from corpusforge.pipeline.api.identity import derive_doc_id
from corpusforge.pipeline.api.reader import Reader, conform_documents
from corpusforge.schemas import Col


@register_reader
class LinesReader(Reader):
    """One document per line; a line starting with '!' is an unreadable record."""

    name = "test-lines"
    extensions = (".lines",)

    def read(self, path: str) -> Iterator[pa.Table]:
        rows = []
        with fsspec.open(path, "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                line = line.rstrip("\n")
                row = {
                    Col.FATE: None,
                    Col.STAGE: None,
                    Col.REASON: None,
                    Col.ERROR: None,
                    Col.TEXT: None,
                    Col.ID: derive_doc_id(path, i),
                    Col.SOURCE_PATH: path,
                    Col.SOURCE_INDEX: i,
                    Col.SOURCE_LINE: i + 1,
                }
                if line.startswith("!"):
                    row.update(
                        {
                            Col.FATE: "quarantined",
                            Col.STAGE: "read",
                            Col.REASON: "bang",
                            Col.ERROR: f"{path.rsplit('/', 1)[-1]} line {i + 1}: bang",
                        }
                    )
                else:
                    row[Col.TEXT] = line
                rows.append(row)
                if len(rows) >= self.params.batch_rows:
                    yield conform_documents(pa.Table.from_pylist(rows))
                    rows = []
        if rows:
            yield conform_documents(pa.Table.from_pylist(rows))


@stage("test_min_words", lineage_columns=("word_count",))
def min_words(batch: pa.Table, min_words: int = 3) -> pa.Table:
    """Reject documents with fewer than min_words words; record the count."""
    counts = pc.list_value_length(pc.utf8_split_whitespace(batch.column(Col.TEXT)))
    batch = batch.append_column("word_count", pc.cast(counts, pa.int64()))
    return reject(batch, pc.less(counts, min_words), "too_few_words", pc.cast(counts, pa.string()))


class UpperParams(StageParams):
    marker: str = "X"


@register_stage
class UpperStage(Stage):
    """A stateful stage: setup() runs once per worker process."""

    name = "test_upper"
    Params = UpperParams
    stateful = True

    def setup(self) -> None:
        self.table = str.maketrans("abc", "ABC")

    def process(self, batch: pa.Table) -> pa.Table:
        texts = [t.translate(self.table) for t in batch.column(Col.TEXT).to_pylist()]
        return batch.set_column(
            batch.column_names.index(Col.TEXT), Col.TEXT, pa.array(texts, pa.string())
        )


@stage("test_drop_rows")
def drop_rows(batch: pa.Table) -> pa.Table:
    """A broken stage: it loses documents instead of rejecting them."""
    return batch.slice(0, batch.num_rows // 2)


def write_lines(path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@stage("test_sleep")
def sleep_stage(batch: pa.Table, seconds: float = 0.1) -> pa.Table:
    """Slow work, so a test can kill a run midway."""
    import time

    time.sleep(seconds)
    return batch


@register_stage
class FirstOfEachText(GlobalStage):
    """A toy global stage: among documents with equal text, keep the smallest id."""

    name = "test_first_of_each_text"

    def run(self, docs, ctx):  # type: ignore[override]
        def keep_first(group: pa.Table) -> pa.Table:
            order = pc.sort_indices(group, sort_keys=[(Col.ID, "ascending")])
            group = group.take(order)
            first = group.column(Col.ID)[0].as_py()
            dup = [i > 0 for i in range(group.num_rows)]
            return reject(group, dup, "same_text", first)

        return docs.groupby_map(Col.TEXT, keep_first)


def lineage_rows(out: Path, sql: str) -> list[tuple]:
    """Rows of ``sql`` over the run's lineage database in OUT (opened read-only)."""
    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def start_cli_run(cfg: Path) -> subprocess.Popen:
    """``corpusforge run CFG -q`` as a child in its own session (a test may kill -9 its group)
    on its own local Ray, with these test stages importable by the driver and Ray's workers."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "corpusforge.cli.main", "run", str(cfg), "-q"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

"""The example corpus generator: deterministic, counts right, readable by the readers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pyarrow as pa
import pytest

from corpusforge.pipeline.registry import detect_format, get_reader

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location(
        "make_example_corpus", ROOT / "examples" / "make_example_corpus.py"
    )
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("example")
    counts = _load().make_example_corpus(out, docs=300, seed=3)
    return out, counts


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    mod = _load()
    a = mod.make_example_corpus(tmp_path / "a", docs=80, seed=7)
    b = mod.make_example_corpus(tmp_path / "b", docs=80, seed=7)
    mod.make_example_corpus(tmp_path / "c", docs=80, seed=8)
    assert a == b
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert (
        _files(tmp_path / "a")["corpus/part-00000.jsonl.gz"]
        != _files(tmp_path / "c")["corpus/part-00000.jsonl.gz"]
    )


def test_counts(example: tuple[Path, dict]) -> None:
    out, counts = example
    assert counts["records"] == 300
    assert sum(counts["kinds"].values()) == 300
    assert counts["records"] == (
        counts["jsonl_records"] + counts["parquet_records"] + counts["warc_documents"]
    )
    for kind in ("clean", "exact_dup", "near_dup", "low_quality", "pii", "bad_record", "html"):
        assert counts["kinds"][kind] >= 3, kind
    assert {"en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "ja"} <= set(counts["languages"])
    truth = [json.loads(line) for line in (out / "truth.jsonl").read_text().splitlines()]
    assert len(truth) == 300
    assert json.loads((out / "manifest.json").read_text()) == counts


def test_readable_by_the_readers(example: tuple[Path, dict]) -> None:
    out, counts = example
    truth = [json.loads(line) for line in (out / "truth.jsonl").read_text().splitlines()]
    by_file: dict[str, list[dict]] = {}
    for t in truth:
        by_file.setdefault(t["file"], []).append(t)
    total = 0
    for path in sorted((out / "corpus").iterdir()):
        reader = get_reader(detect_format(str(path)))()
        table = pa.concat_tables(list(reader.read(str(path))))
        got = table.to_pylist()
        expected = by_file[path.name]
        assert len(got) == len(expected), path.name
        total += len(got)
        if path.name.endswith(".jsonl.gz"):
            for row, t in zip(got, expected, strict=True):
                assert row["source_line"] == t["line"]
                if t["kind"] == "bad_record":
                    assert (row["_fate"], row["_reason"]) == ("quarantined", t["bad_kind"])
                else:
                    assert row["_fate"] is None
                    assert json.loads(row["metadata"])["id"] == t["id"]
        elif path.name.endswith(".parquet"):
            assert all(row["_fate"] is None for row in got)
        else:
            assert reader.stats["skipped"] == counts["warc_skipped_records"]
            fates = [row["_reason"] for row in got]
            assert fates == [None] * counts["kinds"]["html"] + ["unsupported_content_type"]
            assert all(row["text"] for row in got[:-1])
    assert total == counts["records"]

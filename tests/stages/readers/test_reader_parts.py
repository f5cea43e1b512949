"""Readers cut into parts, without Ray: zstd JSONL by frames, BGZF JSONL by blocks, WARC by
records. The parts' rows, in order, are exactly the whole file's rows (every line that
crosses a frame is read once, by one part), and files that cannot be cut say so."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest
import zstandard

from corpusforge.pipeline.api.reader import ReadPart
from corpusforge.pipeline.engine.units import _follow_on, _numbered
from corpusforge.stages.readers.jsonl import JsonlReader
from corpusforge.stages.readers.warc import WarcReader
from tests.parts_data import bgzf, jsonl_bytes, warc_gz, warc_records, zstd_frames

DATA = jsonl_bytes(3000)


def _rows(reader, path: Path, part: ReadPart | None = None) -> tuple[list[dict], dict]:
    tables = list(reader.read(str(path)) if part is None else reader.read(str(path), part))
    rows = pa.concat_tables(tables).to_pylist() if tables else []
    return rows, dict(reader.stats)


def _parts(reader_cls, path: Path, target: int) -> list[ReadPart | None] | None:
    ranges = reader_cls.plan_parts(str(path), path.stat().st_size, target)
    if ranges is None:
        return None
    return [reader_cls.measure_part(str(path), s, e) for s, e in ranges]


def assert_parts_read_like_the_whole(make, path: Path, target: int) -> int:
    """Rows and summed counters of the parts are the whole file's; the number of parts."""
    whole, stats = _rows(make(), path)
    parts = _parts(type(make()), path, target)
    assert parts is not None and _follow_on(parts)
    rows: list[dict] = []
    summed: dict[str, int] = {}
    numbered = _numbered(parts)
    for i, part in enumerate(numbered):
        got, part_stats = _rows(make(), path, ReadPart(**part))
        assert got or i == len(numbered) - 1 or part["records"] == 0
        assert len(got) == part["records"]
        rows += got
        for k, v in part_stats.items():
            summed[k] = summed.get(k, 0) + v
    assert rows == whole and summed == stats
    assert [r["source_index"] for r in rows] == list(range(len(rows)))
    return len(numbered)


@pytest.mark.parametrize(
    ("frame_bytes", "skippable", "target"),
    [
        (7_000, False, 20_000),  # frames shorter than many lines: lines cross frames
        (300, False, 2_000),  # most frames hold no newline at all: parts that own nothing
        (5_000, True, 15_000),  # pzstd's layout: a skippable frame before every frame
    ],
)
def test_zstd_frames(tmp_path: Path, frame_bytes: int, skippable: bool, target: int) -> None:
    path = tmp_path / "multi.jsonl.zst"
    path.write_bytes(zstd_frames(DATA, frame_bytes, skippable))
    assert assert_parts_read_like_the_whole(JsonlReader, path, target) >= 4


@pytest.mark.skipif(shutil.which("pzstd") is None, reason="pzstd is not installed")
def test_pzstd_output(tmp_path: Path) -> None:
    plain = tmp_path / "p.jsonl"  # pzstd cuts frames every few MB of input: 10 MB
    plain.write_bytes(
        b"".join(b'{"text": "%d %s"}\n' % (i, b"lorem ipsum " * 85) for i in range(10_000))
    )
    path = tmp_path / "p.jsonl.zst"
    subprocess.run(["pzstd", "-q", "-p", "4", str(plain), "-o", str(path)], check=True)
    assert assert_parts_read_like_the_whole(JsonlReader, path, path.stat().st_size // 8) >= 2


def test_bgzf_blocks(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl.gz"
    path.write_bytes(bgzf(DATA, block_bytes=9_000))
    assert assert_parts_read_like_the_whole(JsonlReader, path, 20_000) >= 4


@pytest.mark.parametrize("name", ["crawl.warc.gz", "crawl.warc"])
def test_warc_records(tmp_path: Path, name: str) -> None:
    records = warc_records(120)
    path = tmp_path / name
    path.write_bytes(warc_gz(records) if name.endswith(".gz") else b"".join(records))
    n = assert_parts_read_like_the_whole(lambda: WarcReader({"extraction": "fast"}), path, 20_000)
    assert n >= 4


def test_files_that_stay_one_unit(tmp_path: Path) -> None:
    single = tmp_path / "one.jsonl.zst"
    single.write_bytes(zstandard.ZstdCompressor().compress(DATA))
    parts = _parts(JsonlReader, single, 20_000)
    assert parts is not None and not _follow_on(parts)  # one frame: measured, then whole
    assert "pzstd" in (JsonlReader.whole_file_reason(str(single)) or "")

    gz = tmp_path / "one.jsonl.gz"
    gz.write_bytes(gzip.compress(DATA, mtime=0) * 2)  # two plain members: not planned
    assert _parts(JsonlReader, gz, 20_000) is None
    assert "bgzip" in (JsonlReader.whole_file_reason(str(gz)) or "")

    one_stream = tmp_path / "one.warc.gz"
    one_stream.write_bytes(gzip.compress(b"".join(warc_records(60)), mtime=0))
    parts = _parts(WarcReader, one_stream, 10_000)
    assert parts is not None and not _follow_on(parts)


def test_damaged_frame_keeps_the_file_whole(tmp_path: Path) -> None:
    """A damaged frame mid-file: whole-file reading stops there with one quarantined row, so
    the file is not cut (parts would read past the damage)."""
    data = bytearray(zstd_frames(DATA, 7_000))
    mid = len(data) // 2
    data[mid : mid + 40] = bytes(40)
    path = tmp_path / "bad.jsonl.zst"
    path.write_bytes(bytes(data))
    parts = _parts(JsonlReader, path, 20_000)
    assert parts is not None and not _follow_on(parts)
    rows, _ = _rows(JsonlReader(), path)
    assert rows[-1]["_reason"] == "truncated_file"

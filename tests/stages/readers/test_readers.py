"""Readers: every format written by the test itself, good and bad records, no Ray."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from fastwarc.warc import ArchiveIterator, WarcRecordType

from corpusforge.pipeline.api.errors import ConfigError, InputError
from corpusforge.pipeline.api.identity import derive_doc_id
from corpusforge.pipeline.registry import detect_format, get_reader
from corpusforge.schemas import DOCUMENT_SCHEMA
from corpusforge.stages.readers.jsonl import JsonlReader
from corpusforge.stages.readers.parquet import ParquetReader
from corpusforge.stages.readers.text import TextReader
from corpusforge.stages.readers.warc import WarcReader
from tests.warc_data import warc_record

SECRET = "SECRETPAYLOAD"  # planted in bad records: must never show in an error or detail


def read_all(reader, path: Path | str) -> pa.Table:
    tables = list(reader.read(str(path)))
    for t in tables:
        assert t.schema.names[: len(DOCUMENT_SCHEMA)] == DOCUMENT_SCHEMA.names
        assert t.schema.equals(DOCUMENT_SCHEMA)
    return pa.concat_tables(tables) if tables else DOCUMENT_SCHEMA.empty_table()


def rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


def assert_no_text_in_messages(table: pa.Table) -> None:
    for row in rows(table):
        for col in ("_error", "_detail", "_reason"):
            value = row[col] or ""
            assert SECRET not in value
            assert "lorem" not in value.lower()


def prose(i: int, words: int = 12) -> str:
    return " ".join(f"lorem{i}w{j}" for j in range(words))


# --------------------------------------------------------------------------- JSON Lines


def write_jsonl(path: Path, lines: list[bytes]) -> Path:
    data = b"".join(line + b"\n" for line in lines)
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


def good_lines(n: int) -> list[bytes]:
    return [
        json.dumps(
            {"text": prose(i), "url": f"https://ex.org/{i}", "lang": "en", "meta": {"n": i}}
        ).encode()
        for i in range(n)
    ]


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz", "a.json.zst", "a.ndjson"])
def test_jsonl_good_records(tmp_path: Path, name: str) -> None:
    lines = good_lines(5)
    lines.insert(2, b"   ")  # a blank line is not a record, but counts as a line
    path = write_jsonl(tmp_path / name, lines)
    reader = JsonlReader()
    table = read_all(reader, path)
    got = rows(table)
    assert [r["source_index"] for r in got] == [0, 1, 2, 3, 4]
    assert [r["source_line"] for r in got] == [1, 2, 4, 5, 6]
    assert [r["text"] for r in got] == [prose(i) for i in range(5)]
    assert [r["id"] for r in got] == [derive_doc_id(str(path), i) for i in range(5)]
    assert [r["url"] for r in got] == [f"https://ex.org/{i}" for i in range(5)]
    assert json.loads(got[3]["metadata"]) == {"lang": "en", "meta": {"n": 3}}
    assert all(r["_fate"] is None and r["_reason"] is None for r in got)
    assert reader.stats == {"lines": 6, "blank_lines": 1}


def test_jsonl_id_field_and_keep_fields(tmp_path: Path) -> None:
    recs = [
        {"doc": "x-1", "text": "alpha beta", "a": 1, "b": 2},
        {"doc": 7, "text": "gamma delta", "a": 3},
        {"text": "no id here", "a": 5},
    ]
    path = write_jsonl(tmp_path / "ids.jsonl", [json.dumps(r).encode() for r in recs])
    table = read_all(JsonlReader({"id_field": "doc", "keep_fields": ["a"]}), path)
    got = rows(table)
    assert [r["id"] for r in got] == ["x-1", "7", derive_doc_id(str(path), 2)]
    assert [json.loads(r["metadata"]) for r in got] == [{"a": 1}, {"a": 3}, {"a": 5}]


def test_jsonl_custom_text_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [b'{"content": "hello there", "text": 3}'])
    (row,) = rows(read_all(JsonlReader({"text_field": "content"}), path))
    assert row["text"] == "hello there"
    assert json.loads(row["metadata"]) == {"text": 3}


def test_jsonl_bad_records(tmp_path: Path) -> None:
    lines = [
        json.dumps({"text": "fine document one"}).encode(),  # line 1
        b'{"text": "' + SECRET.encode() + b'", "oops" 1}',  # 2 broken JSON
        b'{"text": "' + SECRET.encode() + b' \xff\xfe bytes"}',  # 3 invalid UTF-8
        json.dumps({"body": SECRET}).encode(),  # 4 missing text
        json.dumps({"text": 42, "x": SECRET}).encode(),  # 5 non-string text
        json.dumps({"text": None}).encode(),  # 6 null text
        json.dumps([SECRET]).encode(),  # 7 not an object
        json.dumps({"text": ""}).encode(),  # 8 empty
        json.dumps({"text": " \n\t "}).encode(),  # 9 whitespace only
        json.dumps({"text": "é" * 600}).encode(),  # 10 1200 bytes > max_doc_bytes
        json.dumps({"text": "\ud800" + SECRET}).encode(),  # 11 lone surrogate escape
        json.dumps({"text": "fine document two"}).encode(),  # 12
    ]
    path = write_jsonl(tmp_path / "part-00003.jsonl.gz", lines)
    table = read_all(JsonlReader({"max_doc_bytes": 1000}), path)
    got = rows(table)
    assert len(got) == len(lines)  # every record is exactly one row
    assert [r["source_index"] for r in got] == list(range(len(lines)))
    fates = [(r["source_line"], r["_fate"], r["_reason"]) for r in got]
    assert fates == [
        (1, None, None),
        (2, "quarantined", "invalid_json"),
        (3, "quarantined", "invalid_utf8"),
        (4, "quarantined", "missing_text"),
        (5, "quarantined", "non_string_text"),
        (6, "quarantined", "non_string_text"),
        (7, "quarantined", "not_an_object"),
        (8, "rejected", "empty_text"),
        (9, "rejected", "empty_text"),
        (10, "rejected", "doc_too_large"),
        (11, "quarantined", "invalid_utf8"),
        (12, None, None),
    ]
    by_line = {r["source_line"]: r for r in got}
    assert by_line[2]["_error"].startswith("part-00003.jsonl.gz line 2: invalid JSON (")
    assert "column" in by_line[2]["_error"]
    assert by_line[10]["_detail"] == "1200" and by_line[10]["text"] == "é" * 600
    for r in got:
        assert (r["_stage"] == "read") == (r["_fate"] is not None)
        if r["_fate"] == "quarantined":
            assert r["text"] is None and r["_error"].startswith(
                f"part-00003.jsonl.gz line {r['source_line']}:"
            )
    assert_no_text_in_messages(table)


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.jsonl.gz", "empty.jsonl.zst"])
def test_jsonl_empty_file(tmp_path: Path, name: str) -> None:
    path = write_jsonl(tmp_path / name, [])
    assert read_all(JsonlReader(), path).num_rows == 0


@pytest.mark.parametrize("name", ["cut.jsonl.gz", "cut.jsonl.zst"])
def test_jsonl_truncated_stream(tmp_path: Path, name: str) -> None:
    # zstd decodes whole blocks (128 KiB): enough lines for several blocks before the cut.
    n = 3000
    full = write_jsonl(tmp_path / ("full-" + name), good_lines(n))
    data = full.read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: int(len(data) * 0.6)])
    got = rows(read_all(JsonlReader({"batch_rows": 64}), path))
    *kept, last = got
    assert 0 < len(kept) < n
    assert all(r["_fate"] is None for r in kept)
    assert [r["text"] for r in kept] == [prose(i) for i in range(len(kept))]
    assert last["_fate"] == "quarantined" and last["_reason"] == "truncated_file"
    assert last["source_index"] == len(kept) and last["source_line"] == len(kept) + 1
    assert f"{name} line {len(kept) + 1}:" in last["_error"]
    assert f"last good line {len(kept)}" in last["_error"]


def test_jsonl_missing_file_and_not_gzip(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        list(JsonlReader().read(str(tmp_path / "nope.jsonl")))
    bogus = tmp_path / "bogus.jsonl.gz"
    bogus.write_bytes(b'{"text": "not compressed"}\n')
    with pytest.raises(InputError, match=r"bogus\.jsonl\.gz"):
        list(JsonlReader().read(str(bogus)))


def test_jsonl_batches(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "b.jsonl", good_lines(5))
    tables = list(JsonlReader({"batch_rows": 2}).read(str(path)))
    assert [t.num_rows for t in tables] == [2, 2, 1]


# --------------------------------------------------------------------------- Parquet


def test_parquet_reader(tmp_path: Path) -> None:
    path = tmp_path / "docs.parquet"
    table = pa.table(
        {
            "text": ["first doc", None, "", "third doc", "x" * 50],
            "uid": ["u0", "u1", "u2", None, "u4"],
            "url": ["https://a.org", None, None, None, None],
            "score": [0.5, 0.1, 0.2, 0.3, 0.4],
        }
    )
    pq.write_table(table, path, row_group_size=2)
    got = rows(read_all(ParquetReader({"id_field": "uid", "max_doc_bytes": 20}), path))
    assert [r["source_index"] for r in got] == [0, 1, 2, 3, 4]
    assert [r["_reason"] for r in got] == [
        None,
        "non_string_text",
        "empty_text",
        None,
        "doc_too_large",
    ]
    assert [r["id"] for r in got] == [
        "u0",
        "u1",  # quarantined (null text), it keeps its own id
        "u2",
        derive_doc_id(str(path), 3),
        "u4",
    ]
    assert got[0]["url"] == "https://a.org" and json.loads(got[0]["metadata"]) == {"score": 0.5}
    assert got[1]["text"] is None and got[1]["source_line"] is None
    assert "docs.parquet record 1:" in got[1]["_error"]


def test_parquet_wrong_text_type_and_missing_column(tmp_path: Path) -> None:
    ints = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), ints)
    assert [r["_reason"] for r in rows(read_all(ParquetReader(), ints))] == ["non_string_text"] * 2
    nocol = tmp_path / "nocol.parquet"
    pq.write_table(pa.table({"body": ["a", "b", "c"]}), nocol)
    assert [r["_reason"] for r in rows(read_all(ParquetReader(), nocol))] == ["missing_text"] * 3
    binary = tmp_path / "bin.parquet"
    pq.write_table(pa.table({"text": pa.array([b"ok text", b"\xff" + SECRET.encode()])}), binary)
    table = read_all(ParquetReader(), binary)
    assert [r["_reason"] for r in rows(table)] == [None, "non_string_text"]
    assert_no_text_in_messages(table)
    notpq = tmp_path / "bad.parquet"
    notpq.write_bytes(b"not parquet at all")
    with pytest.raises(InputError):
        list(ParquetReader().read(str(notpq)))


# --------------------------------------------------------------------------- text files


def test_text_reader(tmp_path: Path) -> None:
    good = tmp_path / "a.txt"
    good.write_bytes(b"\xef\xbb\xbfHello world.\nSecond line.\n")
    bad = tmp_path / "b.txt"
    bad.write_bytes(SECRET.encode() + b"\xc3\x28 broken")
    empty = tmp_path / "c.txt"
    empty.write_bytes(b"\n \n")
    (row,) = rows(read_all(TextReader(), good))
    assert row["text"] == "Hello world.\nSecond line.\n"
    assert row["source_index"] == 0 and row["id"] == derive_doc_id(str(good), 0)
    table = read_all(TextReader(), bad)
    (row,) = rows(table)
    assert (row["_fate"], row["_reason"], row["text"]) == ("quarantined", "invalid_utf8", None)
    assert row["_error"] == f"b.txt offset {len(SECRET)}: invalid UTF-8 at byte {len(SECRET)}"
    assert_no_text_in_messages(table)
    (row,) = rows(read_all(TextReader(), empty))
    assert (row["_fate"], row["_reason"]) == ("rejected", "empty_text")


# --------------------------------------------------------------------------- WARC / WET

PAGE_RU = "Пожарная безопасность складов и общественных зданий требует постоянного внимания."


def html_page(title: str, paragraphs: list[str], charset: str = "utf-8") -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>{title}</title></head>'
        f"<body><nav><a href='/'>Home</a> | <a href='/about'>About</a></nav>"
        f"<article><h1>{title}</h1>{body}</article>"
        f"<footer>Copyright footer text</footer></body></html>"
    )


def http_response(ctype: str, body: bytes, status: str = "200 OK") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n\r\n".encode() + body


def build_warc(path: Path) -> list[int]:
    """A small crawl: warcinfo, request, HTML, PNG, CP1251 page, empty page, 404, WET record."""
    sentences = [
        f"This is sentence number {i} of a long and readable article about rivers."
        for i in range(40)
    ]
    en = html_page("Rivers", [" ".join(sentences[i : i + 5]) for i in range(0, 40, 5)])
    ru = html_page("Безопасность", [PAGE_RU] * 6, charset="windows-1251").encode("cp1251")
    http = "application/http; msgtype=response"
    parts = [
        warc_record(
            WarcRecordType.warcinfo, "", b"software: test\r\n", "application/warc-fields", 0
        ),
        warc_record(
            WarcRecordType.request,
            "https://ex.org/rivers",
            b"GET /rivers HTTP/1.1\r\n\r\n",
            "application/http; msgtype=request",
            1,
        ),
        warc_record(
            WarcRecordType.response,
            "https://ex.org/rivers",
            http_response("text/html; charset=utf-8", en.encode()),
            http,
            2,
        ),
        warc_record(
            WarcRecordType.response,
            "https://ex.org/logo.png",
            http_response("image/png", b"\x89PNG\r\n\x1a\n" + bytes(64)),
            http,
            3,
        ),
        warc_record(
            WarcRecordType.response,
            "https://ex.ru/",
            http_response("text/html; charset=windows-1251", ru),
            http,
            4,
        ),
        warc_record(
            WarcRecordType.response,
            "https://ex.org/empty",
            http_response("text/html", b"<html><body></body></html>"),
            http,
            5,
        ),
        warc_record(
            WarcRecordType.response,
            "https://ex.org/gone",
            http_response("text/html", b"<html>gone</html>", "404 Not Found"),
            http,
            6,
        ),
        warc_record(
            WarcRecordType.conversion,
            "https://ex.org/rivers",
            "Plain WET text, already extracted. Ünïcödé.".encode(),
            "text/plain",
            7,
        ),
    ]
    offsets = []
    data = b""
    for part in parts:  # one gzip member per record, as crawlers write them
        offsets.append(len(data))
        data += gzip.compress(part, mtime=0) if path.name.endswith(".gz") else part
    path.write_bytes(data)
    return offsets


@pytest.mark.parametrize("name", ["crawl.warc.gz", "crawl.warc"])
def test_warc_reader(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    offsets = build_warc(path)
    reader = WarcReader()
    got = rows(read_all(reader, path))
    assert reader.stats["skipped"] == 2
    assert reader.stats["skipped_warcinfo"] == 1 and reader.stats["skipped_request"] == 1
    assert [r["source_index"] for r in got] == list(range(6))
    assert [r["source_offset"] for r in got] == offsets[2:]
    assert [r["url"] for r in got] == [
        "https://ex.org/rivers",
        "https://ex.org/logo.png",
        "https://ex.ru/",
        "https://ex.org/empty",
        "https://ex.org/gone",
        "https://ex.org/rivers",
    ]
    assert [r["_reason"] for r in got] == [
        None,
        "unsupported_content_type",
        None,
        "no_text_extracted",
        "http_status",
        None,
    ]
    html, png, ru, empty, gone, wet = got
    assert "sentence number 7 of a long" in html["text"]
    assert "Home" not in html["text"]  # navigation is boilerplate
    assert html["content_type"] == "text/html; charset=utf-8"
    assert html["fetch_date"] == "2024-05-18T01:58:02Z"
    assert json.loads(html["metadata"]) == {
        "warc_record_id": "<urn:uuid:00000000-0000-0000-0000-000000000002>"
    }
    assert html["id"] == derive_doc_id(str(path), 0)
    assert (png["_fate"], png["_detail"], png["text"]) == ("rejected", "image/png", None)
    assert PAGE_RU in ru["text"]
    assert (gone["_detail"], empty["_fate"]) == ("404", "rejected")
    assert wet["text"] == "Plain WET text, already extracted. Ünïcödé."
    assert wet["content_type"] == "text/plain"
    # the offsets are those FastWARC itself reports for the original file
    native = [
        r.stream_pos
        for r in ArchiveIterator(
            str(path), record_types=WarcRecordType.response | WarcRecordType.conversion
        )
    ]
    assert native == offsets[2:]


def test_warc_id_field_is_a_header(tmp_path: Path) -> None:
    path = tmp_path / "c.warc.gz"
    build_warc(path)
    got = rows(read_all(WarcReader({"id_field": "WARC-Record-ID"}), path))
    assert got[0]["id"] == "<urn:uuid:00000000-0000-0000-0000-000000000002>"


@pytest.mark.parametrize("name", ["cut.warc.gz", "cut.warc"])
def test_warc_truncated(tmp_path: Path, name: str) -> None:
    full = tmp_path / ("full-" + name)
    offsets = build_warc(full)
    data = full.read_bytes()
    path = tmp_path / name
    cut = offsets[4] + (offsets[5] - offsets[4]) // 2  # in the middle of the CP1251 page
    path.write_bytes(data[:cut])
    got = rows(read_all(WarcReader(), path))
    assert [r["_reason"] for r in got] == [None, "unsupported_content_type", "truncated_file"]
    assert got[-1]["_fate"] == "quarantined" and got[-1]["source_index"] == 2
    assert got[-1]["_error"].startswith(f"{name} record 2: file ends early")
    assert f"last good record at offset {offsets[3]}" in got[-1]["_error"]
    assert_no_text_in_messages(read_all(WarcReader(), path))


def test_warc_garbage_is_one_quarantined_row(tmp_path: Path) -> None:
    path = tmp_path / "junk.warc"
    path.write_bytes(b"this is not a warc file\n" * 20)
    (row,) = rows(read_all(WarcReader(), path))
    assert (row["_fate"], row["_reason"]) == ("quarantined", "invalid_warc")


# --------------------------------------------------------------------------- format detection


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("a/part-0.jsonl", "jsonl"),
        ("s3://b/x.json.gz", "jsonl"),
        ("x.jsonl.zst", "jsonl"),
        ("x.ndjson", "jsonl"),
        ("x.parquet", "parquet"),
        ("notes/a.txt", "text"),
        ("CC-MAIN-1.warc.gz", "warc"),
        ("CC-MAIN-1.warc.wet.gz", "warc"),
        ("x.wet", "warc"),
        ("x.warc", "warc"),
    ],
)
def test_detect_format(path: str, fmt: str) -> None:
    assert detect_format(path) == fmt
    assert get_reader(fmt).name == fmt


def test_detect_format_unknown() -> None:
    with pytest.raises(ConfigError, match=r"data\.csv"):
        detect_format("/in/data.csv")


def test_warc_extraction_modes_and_not_html(tmp_path: Path) -> None:
    """Every mode extracts the article; a JSON body under a text/html header is not HTML
    (unsupported_content_type), an HTML page with no main text is no_text_extracted."""
    article = html_page("Rivers", [prose(i, 40) for i in range(8)])
    http = "application/http; msgtype=response"
    bodies = [
        http_response("text/html", article.encode()),
        http_response("text/html", b'{"error": "not found", "items": []}'),
        http_response("text/html", b"<html><body><script>var x = 1;</script></body></html>"),
    ]
    path = tmp_path / "modes.warc"
    path.write_bytes(
        b"".join(
            warc_record(WarcRecordType.response, f"https://ex.org/{i}", b, http, i)
            for i, b in enumerate(bodies)
        )
    )
    texts = {}
    for mode in ("fast", "balanced", "precise"):
        got = rows(read_all(WarcReader({"extraction": mode}), path))
        assert [r["_reason"] for r in got] == [
            None,
            "unsupported_content_type",
            "no_text_extracted",
        ]
        assert got[1]["_detail"] == "text/html (body is not HTML)"
        assert got[2]["_detail"] == f"extraction={mode}"
        texts[mode] = got[0]["text"]
    assert all(prose(3, 40)[:60] in t for t in texts.values())
    got = rows(read_all(WarcReader({"trafilatura": {"favor_recall": True}}), path))
    assert got[0]["_reason"] is None
    with pytest.raises(ValueError, match="unknown trafilatura options"):
        WarcReader({"trafilatura": {"output_format": "xml"}})

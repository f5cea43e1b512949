"""Turn a make_corpus.py JSONL corpus into a WARC crawl of simple HTML pages.

    python benchmarks/warc_from_corpus.py /tmp/bench_30 [--out /tmp/bench_30/warc]

One ``part-XXXXX.warc.gz`` per ``part-XXXXX.jsonl.gz`` shard: for every record a request
record and an HTTP 200 ``text/html`` response whose page wraps the text in navigation and
footer boilerplate (which HTML extraction must remove). Paragraphs (blank-line separated)
become ``<p>``, lines inside a paragraph ``<br>``. The record id goes into the target URI
(``https://bench.example/doc/<id>``) so that kept documents can be matched across pipelines.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import html
import io
import os

import orjson
from fastwarc.warc import WarcRecord, WarcRecordType

URL_PREFIX = "https://bench.example/doc/"


def page(title: str, text: str) -> bytes:
    """A small HTML page: nav + article + footer, text escaped."""
    paras = [p for p in text.split("\n\n") if p.strip()]
    body = "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>" for p in paras
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/news'>News</a> | <a href='/about'>About</a></nav>"
        f"<article><h1>{html.escape(title)}</h1>{body}</article>"
        "<footer><p>Site footer. Terms. Privacy.</p></footer></body></html>"
    ).encode()


def record(rtype: WarcRecordType, uri: str, content: bytes, ctype: str, n: int) -> bytes:
    rec = WarcRecord()
    rec.init_headers(rtype, content_length=0)
    rec.headers["WARC-Record-ID"] = f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>"
    rec.headers["WARC-Date"] = "2024-01-01T00:00:00Z"
    rec.headers["WARC-Target-URI"] = uri
    rec.headers["Content-Type"] = ctype
    rec.set_bytes_content(content)
    out = io.BytesIO()
    rec.write(out)
    return gzip.compress(out.getvalue(), compresslevel=6, mtime=0)  # one member per record


def response(doc_id: str, text: str, n: int) -> bytes:
    """Request + response records of one document (gzip members)."""
    uri = URL_PREFIX + doc_id
    req = f"GET /doc/{doc_id} HTTP/1.1\r\nHost: bench.example\r\n\r\n".encode()
    body = page(f"Document {doc_id}", text)
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + body
    return record(
        WarcRecordType.request, uri, req, "application/http; msgtype=request", 2 * n
    ) + record(WarcRecordType.response, uri, http, "application/http; msgtype=response", 2 * n + 1)


def convert(corpus_dir: str, out_dir: str) -> list[str]:
    """Write one WARC per JSONL shard; returns the WARC paths. Skips shards already written."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    n = 0
    for shard in sorted(glob.glob(os.path.join(corpus_dir, "corpus", "*.jsonl.gz"))):
        name = os.path.basename(shard).replace(".jsonl.gz", ".warc.gz")
        dest = os.path.join(out_dir, name)
        paths.append(dest)
        tmp = dest + ".tmp"
        with gzip.open(shard, "rb") as f, open(tmp, "wb") as w:
            for line in f:
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # make_corpus's deliberately bad lines: not pages
                if not isinstance(rec.get("text"), str):
                    continue
                w.write(response(str(rec["id"]), rec["text"], n))
                n += 1
        os.replace(tmp, dest)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus")
    ap.add_argument("--out", default=None, help="default: CORPUS/warc")
    args = ap.parse_args()
    out = args.out or os.path.join(args.corpus, "warc")
    paths = convert(args.corpus, out)
    mb = sum(os.path.getsize(p) for p in paths) / 1e6
    print(f"{len(paths)} WARC files, {mb:.1f} MB in {out}")


if __name__ == "__main__":
    main()

"""Compressed inputs written by the tests, for reading files in parts: zstd with many frames
(as pzstd or the seekable format write it), BGZF gzip (as bgzip writes it), and WARC crawls
with one gzip member per record."""

from __future__ import annotations

import gzip
import json
import random
import struct

import zstandard
from fastwarc.warc import WarcRecordType

from corpusforge.stages.readers._frames import BGZF_EOF, bgzf_block
from tests.warc_data import warc_record


def words(rnd: random.Random, lo: int, hi: int) -> str:
    # random letters: compressed files stay large enough for several parts at 1 MB
    return " ".join(
        "".join(rnd.choices("abcdefghijklmnopqrstuvwxyz", k=rnd.randint(2, 9)))
        for _ in range(rnd.randint(lo, hi))
    )


def jsonl_bytes(records: int, seed: int = 15, max_words: int = 40) -> bytes:
    """JSON Lines with blank and broken lines among the records."""
    rnd = random.Random(seed)
    lines = []
    for i in range(records):
        r = rnd.random()
        if r < 0.01:
            lines.append("   ")
        elif r < 0.015:
            lines.append("{broken")
        else:
            lines.append(json.dumps({"text": words(rnd, 1, max_words), "n": i}))
    return ("\n".join(lines) + "\n").encode()


def zstd_frames(data: bytes, frame_bytes: int, skippable: bool = False) -> bytes:
    """``data`` as independent zstd frames of ``frame_bytes`` input each (cut anywhere, lines
    included); ``skippable``: each frame after a skippable frame holding its size (pzstd)."""
    cctx = zstandard.ZstdCompressor(level=3)
    out = []
    for i in range(0, len(data), frame_bytes):
        frame = cctx.compress(data[i : i + frame_bytes])
        if skippable:
            out.append(struct.pack("<III", 0x184D2A50, 4, len(frame)))
        out.append(frame)
    return b"".join(out)


def bgzf(data: bytes, block_bytes: int = 60_000) -> bytes:
    """``data`` as BGZF blocks, then the end-of-file block, as bgzip writes it."""
    blocks = (bgzf_block(data[i : i + block_bytes]) for i in range(0, len(data), block_bytes))
    return b"".join(blocks) + BGZF_EOF


def warc_records(n: int, seed: int = 15, wet_share: int = 3) -> list[bytes]:
    """A crawl: warcinfo, then responses (HTML, some PNG, some 404), requests and WET
    conversion records (one record in ``wet_share``; 1: all but requests and every 25th,
    which spares the HTML extraction in bigger crawls)."""
    rnd = random.Random(seed)
    http = "application/http; msgtype=response"
    recs = [
        warc_record(WarcRecordType.warcinfo, "", b"software: t\r\n", "application/warc-fields", 0)
    ]
    for i in range(1, n):
        uri, text = f"https://ex.org/{i}", words(rnd, 40, 300)
        if i % 7 == 0:
            req = b"GET / HTTP/1.1\r\n\r\n"
            recs.append(
                warc_record(
                    WarcRecordType.request, uri, req, http.replace("response", "request"), i
                )
            )
        elif (i % wet_share == 0) if wet_share > 1 else (i % 25 != 0):
            recs.append(warc_record(WarcRecordType.conversion, uri, text.encode(), "text/plain", i))
        else:
            status, ctype = (
                ("404 Not Found", "text/html") if i % 11 == 0 else ("200 OK", "text/html")
            )
            if i % 13 == 0:
                ctype = "image/png"
            page = f"<html><body><article><p>{text}</p></article></body></html>".encode()
            head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n\r\n".encode()
            recs.append(warc_record(WarcRecordType.response, uri, head + page, http, i))
    return recs


def warc_gz(records: list[bytes]) -> bytes:
    """One gzip member per record, as crawlers write ``.warc.gz``."""
    return b"".join(gzip.compress(r, mtime=0) for r in records)

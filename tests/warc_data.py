"""WARC records written with fastwarc, for tests that need a small crawl."""

from __future__ import annotations

import io

from fastwarc.warc import WarcRecord, WarcRecordType


def warc_record(
    rtype: WarcRecordType, uri: str, content: bytes, content_type: str, n: int
) -> bytes:
    """One uncompressed WARC record; ``n`` makes its record id and date unique."""
    rec = WarcRecord()
    rec.init_headers(rtype, content_length=0)
    rec.headers["WARC-Record-ID"] = f"<urn:uuid:00000000-0000-0000-0000-{n:012d}>"
    rec.headers["WARC-Date"] = f"2024-05-18T01:58:{n:02d}Z"
    if uri:
        rec.headers["WARC-Target-URI"] = uri
    rec.headers["Content-Type"] = content_type
    rec.set_bytes_content(content)
    out = io.BytesIO()
    rec.write(out)
    return out.getvalue()

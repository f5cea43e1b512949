"""HTTP response blocks of WARC records: headers, body decoding, and the HTML charset.

Crawled responses are messy (ClueWeb declares gzip on plain bodies, pages lie about their
charset), so every step here falls back instead of failing: a body that does not decompress
is used as stored, a charset that is unknown or does not fit the bytes is replaced by the
next candidate, and the last resort decodes with replacement characters.
"""

from __future__ import annotations

import codecs
import re
import zlib

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I
)
_HTML_SNIFF = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)

# Labels whose bytes browsers read with a superset codec (WHATWG encoding standard).
_SUPERSETS = {
    "ascii": "cp1252",
    "latin_1": "cp1252",
    "iso8859_1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
}


class HttpResponse:
    """Status, lower-cased headers and body of an HTTP response block."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int | None, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def media_type(self) -> str | None:
        ctype = self.headers.get("content-type")
        if not ctype:
            return None
        return ctype.split(";", 1)[0].strip().lower() or None

    @property
    def charset(self) -> str | None:
        ctype = self.headers.get("content-type", "")
        m = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", ctype, re.I)
        return m.group(1) if m else None


def parse_http_response(block: bytes) -> HttpResponse:
    """Split an HTTP response block into status line, headers and (decoded) body."""
    m = _HEADER_END.search(block)
    if m is None:
        return HttpResponse(None, {}, b"")
    head, body = block[: m.start()], block[m.end() :]
    lines = head.decode("latin-1").splitlines()
    status = None
    if lines and lines[0].upper().startswith("HTTP/"):
        parts = lines[0].split(None, 2)
        if len(parts) > 1 and parts[1].isdigit():
            status = int(parts[1])
        lines = lines[1:]
    headers: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    body = _decode_content(body, headers.get("content-encoding", "").lower())
    return HttpResponse(status, headers, body)


def _dechunk(body: bytes) -> bytes:
    """Undo chunked transfer coding; the body as stored when it is not actually chunked."""
    out = []
    pos = 0
    while True:
        eol = body.find(b"\n", pos)
        if eol < 0:
            break
        size_field = body[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            return body if not out else b"".join(out)
        if size == 0:
            return b"".join(out)
        out.append(body[eol + 1 : eol + 1 + size])
        pos = eol + 1 + size
        if body[pos : pos + 2] == b"\r\n":
            pos += 2
        elif body[pos : pos + 1] == b"\n":
            pos += 1
    return b"".join(out) if out else body


def _decode_content(body: bytes, encoding: str) -> bytes:
    """Undo gzip/deflate/br content coding when the bytes really are coded."""
    try:
        if body[:2] == b"\x1f\x8b":  # gzip magic, whatever the header says
            return zlib.decompressobj(47).decompress(body)
        if "deflate" in encoding:
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -15)
        if encoding == "br":
            import brotli  # FastWARC depends on it

            return brotli.decompress(body)
    except Exception:
        # Declared but not applied (a common crawl quirk): keep the body as stored.
        return body
    return body


def _codec(label: str | bytes | None) -> str | None:
    """Python codec name for a charset label, or None when unknown."""
    if not label:
        return None
    if isinstance(label, bytes):
        label = label.decode("ascii", "ignore")
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name.replace("-", "_")
    except LookupError:
        return None
    return _SUPERSETS.get(name, name)


def looks_like_html(body: bytes) -> bool:
    return bool(_HTML_SNIFF.match(body[:1024]))


def decode_html(body: bytes, declared: str | None) -> str:
    """HTML bytes to text: BOM, HTTP charset, <meta charset>, UTF-8, then replacement."""
    if body.startswith(codecs.BOM_UTF8):
        return body[3:].decode("utf-8", "replace")
    meta = _META_CHARSET.search(body[:4096])
    candidates = [_codec(declared), _codec(meta.group(1) if meta else None), "utf_8"]
    seen: list[str] = []
    for codec in candidates:
        if codec and codec not in seen:
            seen.append(codec)
            try:
                return body.decode(codec)
            except (UnicodeDecodeError, LookupError):
                continue
    if len(seen) > 1:
        # Nothing fits strictly (stray bytes in an otherwise right charset, as in ClueWeb's
        # EUC-JP pages): the declared charset with replacement characters beats a guess.
        return body.decode(seen[0], "replace")
    # No label and not UTF-8: let charset-normalizer (a trafilatura dependency) guess.
    from charset_normalizer import from_bytes

    best = from_bytes(body[:65536]).best()
    return body.decode(_codec(best.encoding) or "cp1252" if best else "cp1252", "replace")

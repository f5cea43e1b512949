"""The normalized-text hash that recognizes a forgotten page when it comes back re-crawled.

NFKC, lower case, whitespace runs collapsed: the differences a re-crawl of the same page
usually shows. Hashes only: the text itself is never kept.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import xxhash


def normalize(texts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    out = pc.utf8_normalize(texts, form="NFKC")
    out = pc.utf8_lower(out)
    out = pc.replace_substring_regex(out, pattern=r"\s+", replacement=" ")
    return pc.utf8_trim_whitespace(out)


def normalized_hashes(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One xxh3-128 hex digest per text (null for a null text)."""
    values = normalize(texts).to_pylist()
    return pa.array(
        [
            xxhash.xxh3_128_hexdigest(t.encode("utf-8", "surrogatepass")) if t is not None else None
            for t in values
        ],
        pa.string(),
    )

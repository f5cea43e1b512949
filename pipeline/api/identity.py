"""Stable document identity: the same record gets the same id on every run."""

from __future__ import annotations

import xxhash


def derive_doc_id(source_path: str, index: int) -> str:
    """Id of the ``index``-th record of ``source_path`` when the input has no id field.

    A hash of the path keeps ids short and free of directory names; the record index makes
    them readable (``3f9a0c1d2e4b-000042``) and sortable within a file.
    """
    return f"{xxhash.xxh64_hexdigest(source_path.encode('utf-8'))[:12]}-{index:06d}"

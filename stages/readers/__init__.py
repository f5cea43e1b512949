"""Input readers, one module per format. Importing this package registers them.

``detect_format(path)`` maps a file name to a reader name for ``format: auto``.
"""

from __future__ import annotations

import posixpath

from corpusforge.pipeline.api import all_readers
from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.stages.readers import jsonl, parquet, text, warc  # noqa: F401


def detect_format(path: str) -> str:
    """The registered reader whose extension ends ``path`` (the longest match wins)."""
    name = posixpath.basename(path.split("?", 1)[0]).lower()
    best: tuple[int, str] | None = None
    for fmt, cls in all_readers().items():
        for ext in getattr(cls, "extensions", ()):
            if name.endswith(ext.lower()) and (best is None or len(ext) > best[0]):
                best = (len(ext), fmt)
    if best is None:
        raise ConfigError(
            f"cannot tell the input format of {path!r} from its name",
            hint="set `format:` (jsonl, parquet, text, warc) on the input",
        )
    return best[1]

"""Input readers, one module per format. Importing this package registers them.

``corpusforge.pipeline.registry.detect_format`` maps a file name to a reader by the
``extensions`` each reader declares (``format: auto``).
"""

from corpusforge.stages.readers import jsonl, parquet, text, warc  # noqa: F401

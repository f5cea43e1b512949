"""corpusforge.stages: built-in readers, stages and sinks. Importing registers them."""

import sys

# Presidio imports spaCy, whose thinc imports PyTorch whenever it is installed: about 250 MB
# in every worker, for pattern recognizers and CPU spaCy models that never use it. Presidio
# is therefore imported with `import torch` failing (only if torch is not loaded already);
# torch imports normally afterwards.
if "torch" not in sys.modules:
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        import presidio_analyzer  # noqa: F401
    finally:
        del sys.modules["torch"]

from corpusforge.stages import (  # noqa: F401
    basic,
    dedup,
    dedup_minhash,
    fasttext_classifier,
    langid,
    pii,
    quality_c4,
    quality_fineweb,
    quality_gopher,
    readers,
    token_sinks,
    tokenize_stage,
)

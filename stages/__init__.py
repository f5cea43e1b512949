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
    classify,
    dedup,
    pii,
    quality,
    readers,
    sinks,
    tokenize,
)
from corpusforge.stages.classify import fasttext_classifier, langid  # noqa: F401

# report sections of the families (registered on import, used by corpusforge.pipeline.report)
from corpusforge.stages.classify import report_section as _languages_section  # noqa: F401
from corpusforge.stages.dedup import minhash, stages  # noqa: F401
from corpusforge.stages.dedup import report_section as _dedup_section  # noqa: F401
from corpusforge.stages.pii import report_section as _pii_section  # noqa: F401
from corpusforge.stages.pii import stage as pii_stage  # noqa: F401
from corpusforge.stages.quality import basic, c4, fineweb, gopher  # noqa: F401
from corpusforge.stages.sinks import report_section as _shards_section  # noqa: F401
from corpusforge.stages.sinks import tokens  # noqa: F401
from corpusforge.stages.tokenize import report_section as _tokens_section  # noqa: F401
from corpusforge.stages.tokenize import stage as tokenize_stage  # noqa: F401

"""Importing spaCy's stack without PyTorch.

thinc (under spaCy) and Presidio's device detection import PyTorch whenever it is installed:
about 250 MB in every worker, for pattern recognizers and CPU tokenizers that never use it.
And any ``spacy.blank()`` imports Presidio, through the spaCy factories Presidio registers as
an entry point. The families that reach spaCy (quality's word tokenizers, pii) therefore call
:func:`import_spacy_without_torch` first: thinc and Presidio are imported with ``import
torch`` failing (unless torch is loaded already) and record that there is no torch; torch
imports normally afterwards, for anything else that wants it.
"""

from __future__ import annotations

import contextlib
import importlib
import sys

_GUARDED = ("thinc.compat", "presidio_analyzer")


def import_spacy_without_torch() -> None:
    if "torch" in sys.modules or all(m in sys.modules for m in _GUARDED):
        return
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        for module in _GUARDED:
            with contextlib.suppress(ImportError):  # not installed: nothing to guard
                importlib.import_module(module)
    finally:
        del sys.modules["torch"]

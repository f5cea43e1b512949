"""Heuristic quality filters (Gopher, C4, FineWeb) and simple length limits."""

from corpusforge.stages.no_torch import import_spacy_without_torch

# datatrove's word tokenizers are spaCy's: its stack must come up without PyTorch first
import_spacy_without_torch()

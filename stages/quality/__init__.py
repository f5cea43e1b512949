"""Heuristic quality filters (Gopher, C4, FineWeb) and simple length limits.

datatrove's word tokenizers are spaCy's; spaCy's stack comes up without PyTorch
(:func:`corpusforge.stages.no_torch.import_spacy_without_torch`) when a stage of this family
is set up or a word tokenizer is first loaded, not when the package is imported: the driver,
which only validates and plans these stages, never loads spaCy.
"""

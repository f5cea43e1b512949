"""corpusforge.stages: built-in readers, stages and sinks. Importing registers them."""

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

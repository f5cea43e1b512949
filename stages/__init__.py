"""corpusforge.stages: built-in readers, stages and sinks. Importing registers them."""

from corpusforge.stages import (  # noqa: F401
    basic,
    token_sinks,
    tokenize_stage,
)

"""corpusforge.stages: built-in readers, stages and sinks. Importing registers them."""

from corpusforge.stages import (
    basic,  # noqa: F401
    pii,  # noqa: F401
)

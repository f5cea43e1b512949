"""corpusforge.stages: built-in readers, stages and sinks. Importing registers them."""

from corpusforge.stages import basic, readers  # noqa: F401

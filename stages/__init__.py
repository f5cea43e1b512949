"""corpusforge.stages: built-in readers, stages and sinks. Importing registers them."""

from corpusforge.stages import basic, dedup, dedup_minhash  # noqa: F401

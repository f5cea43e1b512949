"""Lineage: the DuckDB store of a run (``store``), read-only questions (``query``), summaries."""

"""corpusforge.pipeline.governance: take documents out of a finished output, prove what is in it.

``forget`` rewrites only the shards that held the documents (kept Parquet, token shards,
rejected Parquet and the ``_work`` checkpoints) through a staged, resumable commit and marks
them ``forgotten`` in lineage; ``takedowns`` keeps them out of later runs; ``audit`` re-checks
every output against lineage; ``provenance`` records what a run used.
"""

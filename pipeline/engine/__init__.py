"""The engine: plan a run, execute its phases through a backend, write outputs and lineage."""

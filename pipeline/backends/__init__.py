"""Execution backends. Ray lives in ``backends/ray`` and nowhere else in corpusforge."""

"""corpusforge.cli."""

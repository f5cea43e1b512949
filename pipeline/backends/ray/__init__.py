"""The Ray backend: the only place corpusforge imports Ray."""

"""Files over fsspec: local paths and object stores alike, one atomic write for every output."""

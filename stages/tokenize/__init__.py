"""Tokenization: text to token ids, HF tokenizers and our own byte-level BPE paths."""

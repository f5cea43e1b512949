"""Deduplication: exact and MinHash near-dedup, global stages over the whole corpus."""

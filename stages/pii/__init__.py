"""PII: detection with Presidio (patterns, optional NER) and redaction."""

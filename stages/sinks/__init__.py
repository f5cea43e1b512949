"""Output sinks: token shards (Megatron .bin/.idx, Parquet) and reading them back."""

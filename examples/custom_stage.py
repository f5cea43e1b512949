"""A custom stage in a few lines: reject link farms.

Use it from YAML (`plugins: [custom_stage]` with examples/ on PYTHONPATH, then
`- link_share: {max_share: 0.2}`) or from Python (see examples/python_api.py).
"""

import pyarrow as pa

from corpusforge.pipeline import reject, stage


@stage("link_share", lineage_columns=("link_share",))
def link_share(batch: pa.Table, max_share: float = 0.2) -> pa.Table:
    """Reject documents where more than max_share of the words are links."""
    shares = []
    for text in batch.column("text").to_pylist():
        words = text.split()
        links = sum(w.startswith(("http://", "https://", "www.")) for w in words)
        shares.append(links / max(len(words), 1))
    batch = batch.append_column("link_share", pa.array(shares, pa.float64()))
    too_many = [s > max_share for s in shares]
    return reject(batch, too_many, "link_farm", [f"{s:.2f}" for s in shares])

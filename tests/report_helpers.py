"""Small real stages and a sink that produce the columns the report has sections for.

The langid/quality/dedup/PII/tokenize stages live in their own modules; these stand-ins compute
the same kinds of columns from the text with simple rules, so the report's sections are
exercised end to end through the real engine and lineage.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline import GlobalStage, reject, stage
from corpusforge.pipeline.api.sink import SINK_INDEX_SCHEMA, Sink
from corpusforge.pipeline.registry import register_sink, register_stage
from corpusforge.schemas import Col

EMAIL = re.compile(r"[\w.]+@[\w.]+\.\w+")
GERMAN_WORDS = {"und", "der", "die", "das", "ist", "nicht"}

SIGNAL_COLUMNS = (
    "language",
    "language_score",
    "alpha_ratio",
    "pii_email_count",
    "pii_total",
    "n_tokens",
)


@stage("test_report_signals", lineage_columns=SIGNAL_COLUMNS)
def report_signals(batch: pa.Table, min_alpha: float = 0.6) -> pa.Table:
    """Language by a German word list, an alpha ratio filter, e-mail counts, word tokens."""
    langs, scores, alphas, emails, tokens = [], [], [], [], []
    for text in batch.column(Col.TEXT).to_pylist():
        words = text.split()
        german = sum(w.lower() in GERMAN_WORDS for w in words)
        langs.append("de" if german * 4 >= len(words) and german else "en")
        scores.append(max(german, len(words) - german) / max(len(words), 1))
        alphas.append(sum(c.isalpha() for c in text) / max(len(text), 1))
        emails.append(len(EMAIL.findall(text)))
        tokens.append(len(words))
    for name, values, typ in (
        ("language", langs, pa.string()),
        ("language_score", scores, pa.float64()),
        ("alpha_ratio", alphas, pa.float64()),
        ("pii_email_count", emails, pa.int64()),
        ("pii_total", emails, pa.int64()),
        ("n_tokens", tokens, pa.int64()),
    ):
        batch = batch.append_column(name, pa.array(values, typ))
    low = [a < min_alpha for a in alphas]
    return reject(batch, low, "low_alpha", [f"{a:.2f}" for a in alphas])


@register_stage
class ExactTextDedup(GlobalStage):
    """Cluster documents with equal text; keep the smallest id, reject the others."""

    name = "test_report_dedup"
    lineage_columns = ("dup_cluster", "dup_cluster_size")

    def run(self, docs, ctx):  # type: ignore[override]
        def mark(group: pa.Table) -> pa.Table:
            group = group.take(pc.sort_indices(group, sort_keys=[(Col.ID, "ascending")]))
            n = group.num_rows
            first = group.column(Col.ID)[0].as_py()
            group = group.append_column(
                "dup_cluster", pa.array([first if n > 1 else None] * n, pa.string())
            )
            group = group.append_column("dup_cluster_size", pa.array([n] * n, pa.int64()))
            return reject(group, [i > 0 for i in range(n)], "exact_duplicate", first)

        return docs.groupby_map(Col.TEXT, mark)


@register_sink
class WordsSink(Sink):
    """One word per line; the index counts words as the document's units (like tokens)."""

    name = "test_words"

    def write_shard(self, batches: Iterable[pa.Table], out_dir: str, shard_name: str) -> pa.Table:
        os.makedirs(out_dir, exist_ok=True)
        name = shard_name.rsplit(".", 1)[0] + ".words"
        rows, offset = [], 0
        tmp = os.path.join(out_dir, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for batch in batches:
                ids = batch.column(Col.ID).to_pylist()
                for doc_id, text in zip(ids, batch.column(Col.TEXT).to_pylist(), strict=True):
                    words = text.split()
                    f.write("\n".join(words) + "\n")
                    rows.append(
                        {"doc_id": doc_id, "shard": name, "offset": offset, "count": len(words)}
                    )
                    offset += len(words)
        os.replace(tmp, os.path.join(out_dir, name))
        return pa.Table.from_pylist(rows, schema=SINK_INDEX_SCHEMA)

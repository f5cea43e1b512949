"""Inspect token shards of an output folder: totals, decoded samples, token -> source document.

The logic behind ``corpusforge tokens``. Shards are found by their ``.idx`` (Megatron) under
the output folder (``_work`` excluded); the source of a token position comes from lineage:
``doc_outputs`` (doc_id, output, shard, start, length) joined to ``documents`` (doc_id,
source_path, source_index) in ``OUT/lineage.duckdb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpusforge.pipeline.api.errors import InputError
from corpusforge.stages.sinks.megatron_format import IndexedShard
from corpusforge.stages.sinks.tokens import TOKENIZER_FILE


@dataclass(frozen=True)
class ShardInfo:
    name: str  # path of the .bin relative to the output folder
    documents: int
    tokens: int
    dtype: str


@dataclass(frozen=True)
class TokenSource:
    shard: str
    position: int
    doc_id: str
    doc_offset: int  # position of the token inside its document
    source_path: str | None
    source_index: int | None


def find_shards(out_dir: str | Path) -> list[Path]:
    """``.bin`` paths of every complete Megatron shard under ``out_dir``, sorted."""
    root = Path(out_dir)
    if not root.is_dir():
        raise InputError(f"{out_dir} is not a folder")
    return sorted(
        idx.with_suffix(".bin")
        for idx in root.rglob("*.idx")
        if "_work" not in idx.relative_to(root).parts and idx.with_suffix(".bin").exists()
    )


def summarize(out_dir: str | Path) -> list[ShardInfo]:
    root = Path(out_dir)
    infos = []
    for path in find_shards(root):
        shard = IndexedShard.open(path)
        infos.append(
            ShardInfo(str(path.relative_to(root)), len(shard), shard.n_tokens, shard.dtype.name)
        )
    return infos


def find_tokenizer(out_dir: str | Path) -> Path | None:
    hits = sorted(Path(out_dir).rglob(TOKENIZER_FILE))
    return hits[0] if hits else None


def sample(
    out_dir: str | Path, n: int, tokenizer: str | None = None, seed: int = 0
) -> list[tuple[str, int, str]]:
    """``n`` random documents as (shard, sequence index, decoded text)."""
    from corpusforge.stages.tokenize.source import load_tokenizer

    spec = tokenizer or find_tokenizer(out_dir)
    if spec is None:
        raise InputError(
            f"no {TOKENIZER_FILE} under {out_dir}", hint="pass --tokenizer to decode the sample"
        )
    tok = load_tokenizer(str(spec))
    root = Path(out_dir)
    shards = [(p, IndexedShard.open(p)) for p in find_shards(root)]
    pairs = [(p, i) for p, s in shards for i in range(len(s))]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(pairs), size=min(n, len(pairs)), replace=False) if pairs else []
    opened = dict(shards)
    return [
        (
            str(pairs[k][0].relative_to(root)),
            pairs[k][1],
            tok.decode(opened[pairs[k][0]][pairs[k][1]].tolist(), skip_special_tokens=False),
        )
        for k in sorted(int(x) for x in picks)
    ]


def parse_at(at: str) -> tuple[str, int]:
    """``SHARD:POS`` -> (shard, pos)."""
    shard, sep, pos = at.rpartition(":")
    if not sep or not shard or not pos.isdigit():
        raise InputError(f"--at wants SHARD:POS (e.g. part-00000.bin:12345), got {at!r}")
    return shard, int(pos)


def locate(out_dir: str | Path, shard: str, position: int) -> TokenSource:
    """The document (and its source record) holding token ``position`` of ``shard``."""
    import duckdb

    db = Path(out_dir) / "lineage.duckdb"
    if not db.exists():
        raise InputError(f"no lineage at {db}")
    names = {shard, shard.removesuffix(".bin") + ".bin", Path(shard).name}
    con = duckdb.connect(str(db), read_only=True)
    try:
        query = (
            "select s.doc_id, s.shard, s.start, d.source_path, d.source_index "
            "from doc_outputs s left join documents d using (doc_id) "
            "where s.output <> 'data' and (s.shard in (select unnest($names)) "
            "or regexp_replace(s.shard, '^.*/', '') in (select unnest($names))) "
            "and s.start <= $pos and $pos < s.start + s.length limit 1"
        )
        row = con.execute(query, {"names": sorted(names), "pos": position}).fetchone()
    finally:
        con.close()
    if row is None:
        raise InputError(f"no document covers token {position} of shard {shard}")
    return TokenSource(row[1], position, row[0], position - int(row[2]), row[3], row[4])

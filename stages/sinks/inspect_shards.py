"""Inspect token shards of an output folder: totals, decoded samples, token -> source document.

The logic behind ``corpusforge tokens``. Shards are found by their ``.idx`` (Megatron) under
the output folder (``_work`` excluded); the source of a token position comes from lineage:
``doc_outputs`` (doc_id, output, shard, start, length) joined to ``documents`` (doc_id,
source_path, source_index) in ``OUT/lineage.duckdb``. ``OUT`` is a folder or any fsspec URL
(``s3://bucket/out``): remote shards are read through fsspec, never looked for locally.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpusforge.pipeline.api.errors import InputError
from corpusforge.pipeline.io import fsutil
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


def _root(out_dir: str | Path) -> str:
    """``out_dir`` as the URL fsutil lists under (local paths made absolute)."""
    root = fsutil.to_url(*fsutil.get_fs(str(out_dir)))
    if not fsutil.isdir(root):
        raise InputError(f"{out_dir} is not a folder", hint="give the run's output.path")
    return root


def _shards_under(root: str) -> list[str]:
    found = set(fsutil.find(root))
    return sorted(
        idx.removesuffix(".idx") + ".bin"
        for idx in found
        if idx.endswith(".idx")
        and "_work" not in fsutil.relative(idx, root).split("/")
        and idx.removesuffix(".idx") + ".bin" in found
    )


def find_shards(out_dir: str | Path) -> list[str]:
    """``.bin`` URLs (local: paths) of every complete Megatron shard under ``out_dir``."""
    return _shards_under(_root(out_dir))


def summarize(out_dir: str | Path) -> list[ShardInfo]:
    root = _root(out_dir)
    infos = []
    for url in _shards_under(root):
        shard = IndexedShard.open(url)
        infos.append(
            ShardInfo(fsutil.relative(url, root), len(shard), shard.n_tokens, shard.dtype.name)
        )
    return infos


def find_tokenizer(out_dir: str | Path) -> str | None:
    hits = [u for u in fsutil.find(_root(out_dir)) if u.endswith("/" + TOKENIZER_FILE)]
    return hits[0] if hits else None


def sample(
    out_dir: str | Path, n: int, tokenizer: str | None = None, seed: int = 0
) -> list[tuple[str, int, str]]:
    """``n`` random documents as (shard, sequence index, decoded text)."""
    from corpusforge.stages.tokenize.source import load_tokenizer

    root = _root(out_dir)
    spec = tokenizer or find_tokenizer(root)
    if spec is None:
        raise InputError(
            f"no {TOKENIZER_FILE} under {out_dir}", hint="pass --tokenizer to decode the sample"
        )
    with fsutil.local_copy(spec) if fsutil.is_remote(spec) else _as_is(spec) as local:
        tok = load_tokenizer(local)
    shards = [(u, IndexedShard.open(u)) for u in _shards_under(root)]
    pairs = [(u, i) for u, s in shards for i in range(len(s))]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(pairs), size=min(n, len(pairs)), replace=False) if pairs else []
    opened = dict(shards)
    return [
        (
            fsutil.relative(pairs[k][0], root),
            pairs[k][1],
            tok.decode(opened[pairs[k][0]][pairs[k][1]].tolist(), skip_special_tokens=False),
        )
        for k in sorted(int(x) for x in picks)
    ]


@contextmanager
def _as_is(spec: str) -> Iterator[str]:
    yield spec


def parse_at(at: str) -> tuple[str, int]:
    """``SHARD:POS`` -> (shard, pos)."""
    shard, sep, pos = at.rpartition(":")
    if not sep or not shard or not pos.isdigit():
        raise InputError(f"--at wants SHARD:POS (e.g. part-00000.bin:12345), got {at!r}")
    return shard, int(pos)


_LOCATE_SQL = (
    "select s.doc_id, s.shard, s.start, d.source_path, d.source_index "
    "from doc_outputs s left join documents d using (doc_id) "
    "where s.output <> 'data' and (s.shard in (select unnest($names)) "
    "or regexp_replace(s.shard, '^.*/', '') in (select unnest($names))) "
    "and s.start <= $pos and $pos < s.start + s.length limit 1"
)


def locate(out_dir: str | Path, shard: str, position: int) -> TokenSource:
    """The document (and its source record) holding token ``position`` of ``shard``."""
    import duckdb

    db = fsutil.join(_root(out_dir), "lineage.duckdb")
    if not fsutil.exists(db):
        raise InputError(f"no lineage at {db}")
    names = {shard, shard.removesuffix(".bin") + ".bin", Path(shard).name}
    with fsutil.local_copy(db) as local:
        con = duckdb.connect(local, read_only=True)
        try:
            row = con.execute(_LOCATE_SQL, {"names": sorted(names), "pos": position}).fetchone()
        finally:
            con.close()
    if row is None:
        raise InputError(f"no document covers token {position} of shard {shard}")
    return TokenSource(row[1], position, row[0], position - int(row[2]), row[3], row[4])

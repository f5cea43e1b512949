"""Global deduplication stages: ``exact_dedup`` and ``near_dedup`` (MinHash LSH).

Both work on slim per-document tables (id, signature or hash, rank columns), never moving
text. Up to ``local_max_docs`` documents (a million by default: a few hundred MB of slim
rows), the grouping, connected components and keeper choice run on a :class:`LocalFrame` in
the driver, and the results are broadcast to the documents: a Ray shuffle costs seconds of
fixed overhead each, and a run takes dozens. Above it, every all-to-all step is a hash
shuffle of a :class:`Frame` and the driver only sees counts.

Incremental runs: each run writes an index of the documents it kept under
``OUTPUT/dedup_index/<stage instance>/`` (band keys + ids + signatures for near dedup,
normalized-text hashes + ids for exact dedup). A later run given earlier outputs in its
``dedup_against`` parameter (on both stages) loads those indexes; their documents join the
grouping with top rank, so new documents colliding with them are rejected, and old
signatures are never recomputed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import field_validator

from corpusforge.pipeline.api import (
    Frame,
    GlobalContext,
    GlobalStage,
    Resources,
    StageParams,
    register_stage,
)
from corpusforge.pipeline.io import fsutil
from corpusforge.schemas import Col
from corpusforge.stages.dedup.graph import (
    bucket_edges,
    connected_components,
    star_members,
    unique_candidates,
)
from corpusforge.stages.dedup.keep import (
    CLUSTER_COLUMN,
    KEEPER_COLUMN,
    RANK_COLUMNS,
    RANK_SCHEMA,
    SIZE_COLUMN,
    apply_results,
    choose_keepers,
    previous_ranks,
    rank_columns,
)
from corpusforge.stages.dedup.minhash import (
    HASH_VERSION,
    SIGNATURE_COLUMN,
    TEXT_HASH_COLUMN,
    MinHashSpec,
    band_keys,
    recall_bands_rows,
    signature_algorithm,
    signature_keys,
    signature_matrix,
    text_hashes,
)
from corpusforge.stages.dedup.split import split_keepers
from corpusforge.stages.dedup.verify import (
    OLD_COLUMN,
    VERIFY_MODES,
    Verifier,
    default_margin,
    verify_candidates,
)

INDEX_DIR = "dedup_index"
# 2: signatures are rensa's uint32 values over numba shingles, band rows carry the signature
# key, text hashes come from the numba kernel. An index of another version is refused.
INDEX_VERSION = 2
_META = "meta.json"
_DONE = "_DONE.json"


def _fingerprint(obj: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _partitions(n_rows: int, requested: int | None, rows_per_partition: int = 200_000) -> int:
    """Shuffle fan-out: enough partitions that each call's table stays small."""
    if requested:
        return requested
    return int(min(max(2, -(-n_rows // rows_per_partition)), 512))


_LOCAL_MAX_DOCS = 1_000_000


def _mark_documents(docs: Frame, results: Frame | None, reason: str, num_partitions: int) -> Frame:
    """Join per-member results onto the documents (left outer) and mark the duplicates."""
    docs = docs.drop([CLUSTER_COLUMN, SIZE_COLUMN, KEEPER_COLUMN])
    if results is None:  # no duplicates at all: no join, every row a singleton
        return docs.map_blocks(lambda t: apply_results(t, reason))
    joined = docs.join(results, on=[Col.ID], how="left_outer", num_partitions=num_partitions)
    return joined.map_blocks(lambda t: apply_results(t, reason))


def _write_marker(path: str, payload: dict[str, Any]) -> None:
    # atomic (temporary name, then rename): a crash leaves no marker
    fsutil.atomic_write_bytes(fsutil.join(path, _DONE), json.dumps(payload).encode())


def _read_marker(path: str) -> dict[str, Any] | None:
    try:
        return json.loads(fsutil.read_bytes(fsutil.join(path, _DONE)))
    except (OSError, ValueError):
        return None


def _kept_only(table: Frame, results: Frame | None, num_partitions: int) -> Frame:
    """Rows of ``table`` (with ``id``) whose document was not rejected as a duplicate."""
    if results is None:
        return table
    rejected = results.map_blocks(
        lambda t: t.filter(pc.not_equal(t[KEEPER_COLUMN], t[Col.ID])).select([Col.ID])
    )
    return table.join(rejected, on=[Col.ID], how="left_anti", num_partitions=num_partitions)


# ----------------------------------------------------------------------------- exact dedup


class ExactDedupParams(StageParams):
    normalization: str = "full"  # none | whitespace | lower | full (see normalize_text)
    keep: str = "first"  # first | longest | quality
    quality_column: str | None = None  # for keep: quality (higher is better)
    write_index: bool = True  # persist kept hashes for incremental runs
    # output folders of earlier runs whose index this run deduplicates against
    dedup_against: list[str] = []
    num_partitions: int | None = None  # shuffle fan-out; None: from the row count
    local_max_docs: int = _LOCAL_MAX_DOCS  # up to this many: grouped in the driver, no shuffle


@register_stage
class ExactDedup(GlobalStage):
    """Reject documents whose normalized text equals an earlier-ranked document's.

    Produces ``dup_cluster`` (the text hash, null for singletons) and ``dup_cluster_size``;
    rejects with reason ``exact_duplicate`` and the kept id as detail.
    """

    name = "exact_dedup"
    outputs = (CLUSTER_COLUMN, SIZE_COLUMN)
    lineage_columns = ("dup_cluster",)
    description = "Exact deduplication on a hash of normalized text"
    Params = ExactDedupParams
    resources = Resources(batch_size=None)

    def run(self, docs: Frame, ctx: GlobalContext) -> Frame:
        p: ExactDedupParams = self.params  # type: ignore[assignment]
        reuse_hash = TEXT_HASH_COLUMN in docs.column_names and p.normalization == "full"

        def slim(t: pa.Table) -> pa.Table:
            h = t[TEXT_HASH_COLUMN] if reuse_hash else text_hashes(t[Col.TEXT], p.normalization)
            cols = {Col.ID: t[Col.ID], TEXT_HASH_COLUMN: h}
            cols.update(rank_columns(t, p.keep, p.quality_column))
            return pa.table(cols)

        meta = {"kind": "exact", "version": INDEX_VERSION, "normalization": p.normalization}
        previous = _previous_indexes(p.dedup_against, self.instance_name, meta)
        keys: Frame = docs.map_blocks(slim).materialize()
        n = keys.count()
        parts = _partitions(n, p.num_partitions)
        if _fits_in_driver(n, previous, "hashes", p.local_max_docs, ctx):
            keys = keys.to_local()
        grouped = keys
        for prev in previous:
            old = ctx.frames.read_parquet(fsutil.join(prev, "hashes"))
            grouped = grouped.union(
                old.map_blocks(
                    lambda t: pa.table(
                        {Col.ID: t[Col.ID], TEXT_HASH_COLUMN: t[TEXT_HASH_COLUMN]}
                        | previous_ranks(t[Col.ID])
                    )
                )
            )
        results = grouped.partition_map(
            TEXT_HASH_COLUMN,
            lambda t: choose_keepers(t, TEXT_HASH_COLUMN),
            num_partitions=parts,
        ).materialize()
        results, members = _nonempty(results)
        self.last_stats = {"documents": n, "cluster_members": members}
        if p.write_index and ctx.output_dir:
            out = _index_path(ctx.output_dir, self.instance_name)
            _kept_only(keys.select([Col.ID, TEXT_HASH_COLUMN]), results, parts).write_parquet(
                _fresh_dir(fsutil.join(out, "hashes"))
            )
            _write_meta(out, meta)
        return _mark_documents(docs, results, "exact_duplicate", parts)


# ----------------------------------------------------------------------------- near dedup


class NearDedupParams(StageParams):
    # Documents whose true Jaccard (word n-gram shingle sets) with a kept one reaches this are
    # removed, those below it kept; benchmarks/README_dedup.md has the measured error each side.
    threshold: float = 0.7
    num_perm: int = 112  # hashes per signature
    ngram: int = 5
    seed: int = 1
    # output folders of earlier runs whose index this run deduplicates against
    dedup_against: list[str] = []
    # LSH banding for experts; default recall_bands_rows(threshold, num_perm): 28 x 4 at 0.7
    bands: int | None = None
    rows: int | None = None
    # text: estimate, then exact Jaccard of the texts near the threshold | signature: estimate
    # only | none: every band collision is a duplicate (the classic LSH; bools: true = text)
    verify: str = "text"
    verify_margin: float | None = None  # estimates this close to the threshold go to the text
    keep: str = "first"  # first | longest | quality
    quality_column: str | None = None
    write_index: bool = True
    max_rounds: int = 64  # connected-components rounds before giving up
    num_partitions: int | None = None
    local_max_docs: int = _LOCAL_MAX_DOCS  # up to this many: grouped in the driver, no shuffle

    @field_validator("verify", mode="before")
    @classmethod
    def _verify_mode(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "text" if value else "none"
        if value not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {', '.join(VERIFY_MODES)}, not {value!r}")
        return value

    @field_validator("threshold")
    @classmethod
    def _threshold_range(cls, value: float) -> float:
        if not 0.0 < value < 1.0:
            raise ValueError("threshold must be in (0, 1)")
        return value


def _fits_in_driver(
    n: int, previous: list[str], index_table: str, limit: int, ctx: GlobalContext
) -> bool:
    """Whether this run's ``n`` documents plus the earlier runs' indexes (counted from
    Parquet metadata) are few enough to group in the driver."""
    old = sum(ctx.frames.read_parquet(fsutil.join(p, index_table)).count() for p in previous)
    return n + old <= limit


def _nonempty(results: Frame) -> tuple[Frame | None, int]:
    """``None`` for an empty result (Ray loses the schema of empty blocks; joins need it)."""
    n = results.count()  # metadata of a materialized frame: no execution
    return (results if n else None), n


def _index_path(output_dir: str, instance: str) -> str:
    return fsutil.join(output_dir, INDEX_DIR, instance)


def _fresh_dir(path: str) -> str:
    """An index is rewritten whole: stale files of an earlier attempt must not mix in."""
    fsutil.remove(path, recursive=True)
    return path


def _write_meta(path: str, meta: dict[str, Any]) -> None:
    fsutil.atomic_write_bytes(fsutil.join(path, _META), json.dumps(meta, sort_keys=True).encode())


def _previous_indexes(outputs: list[str], instance: str, meta: dict[str, Any]) -> list[str]:
    """Index folders of earlier runs, checked to be compatible with this run's parameters."""
    found = []
    for out in outputs:
        path = _index_path(out, instance)
        meta_path = fsutil.join(path, _META)
        if not fsutil.exists(meta_path):
            raise FileNotFoundError(
                f"previous output {out} has no dedup index for stage {instance!r} "
                f"(expected {meta_path})"
            )
        old = json.loads(fsutil.read_bytes(meta_path))
        _check_version(path, old)
        if old != meta:
            raise ValueError(
                f"dedup index in {path} was built with {old}, this run uses {meta}: "
                "signatures are not comparable"
            )
        found.append(path)
    return found


def _check_version(path: str, meta: dict[str, Any]) -> None:
    version = meta.get("version", 1)
    if version != INDEX_VERSION:
        raise ValueError(
            f"dedup index in {path} has version {version}, this corpusforge reads version "
            f"{INDEX_VERSION} (its hashing changed, so old and new signatures or text hashes "
            "cannot be compared): rebuild that index by re-running its dedup with this version, "
            "or leave that output out of dedup_against"
        )


@register_stage
class NearDedup(GlobalStage):
    """MinHash LSH near-deduplication with verified candidates, distributed end to end.

    Uses the ``minhash`` column when present (computed by the per-batch ``minhash`` stage in
    an earlier phase, with the same num_perm/ngram/seed), else computes signatures itself and
    checkpoints them under ``ctx.work_dir`` so a resumed run reuses them. Banding is chosen for
    recall (a pair at the threshold collides in some band with probability >= 0.999) and every
    candidate pair is verified (:mod:`corpusforge.stages.dedup.verify`), so the threshold is a
    true-Jaccard threshold. Produces ``dup_cluster`` (the smallest id in the cluster, null for
    singletons) and ``dup_cluster_size``; rejects with reason ``near_duplicate`` and the kept id
    as detail. Clusters are connected components of verified pairs: a chain a~b~c is one
    cluster even where a and c are below the threshold.
    """

    name = "near_dedup"
    outputs = (CLUSTER_COLUMN, SIZE_COLUMN)
    lineage_columns = ("dup_cluster",)
    description = "MinHash LSH near-deduplication, candidates verified on signatures and text"
    Params = NearDedupParams
    resources = Resources(batch_size=None)

    def banding(self) -> tuple[int, int]:
        p: NearDedupParams = self.params  # type: ignore[assignment]
        if p.bands and p.rows:
            return p.bands, p.rows
        return recall_bands_rows(p.threshold, p.num_perm)

    def _meta(self) -> dict[str, Any]:
        p: NearDedupParams = self.params  # type: ignore[assignment]
        bands, rows = self.banding()
        return {
            "kind": "minhash",
            "version": INDEX_VERSION,
            "signatures": signature_algorithm(),
            "num_perm": p.num_perm,
            "ngram": p.ngram,
            "seed": p.seed,
            "bands": bands,
            "rows": rows,
        }

    def _signatures(self, docs: Frame, ctx: GlobalContext) -> tuple[Frame, bool]:
        """Slim table ``(id, minhash, rank columns)``; reused from the checkpoint if done."""
        p: NearDedupParams = self.params  # type: ignore[assignment]
        spec = MinHashSpec(p.num_perm, p.ngram, p.seed)
        have = SIGNATURE_COLUMN in docs.column_names

        def slim(t: pa.Table) -> pa.Table:
            if have:
                sig = t[SIGNATURE_COLUMN]
                _check_signature_column(sig.type, p.num_perm)
            else:
                sig = spec.signatures(t[Col.TEXT])
            cols = {Col.ID: t[Col.ID], SIGNATURE_COLUMN: sig}
            cols.update(rank_columns(t, p.keep, p.quality_column))
            return pa.table(cols)

        if have or not ctx.work_dir:
            return docs.map_blocks(slim).materialize(), False
        path = fsutil.join(ctx.work_dir, "signatures")
        finger = _fingerprint({**self._meta(), "keep": p.keep, "q": p.quality_column})
        marker = _read_marker(path)
        if marker is not None and marker.get("fingerprint") == finger:
            return ctx.frames.read_parquet(fsutil.join(path, "data")).materialize(), True
        data = fsutil.join(path, "data")
        fsutil.remove(data, recursive=True)  # leftovers of an interrupted attempt
        docs.map_blocks(slim).write_parquet(data)
        _write_marker(path, {"fingerprint": finger})
        return ctx.frames.read_parquet(data).materialize(), False

    def _verifier(self, parts: int) -> Verifier:
        p: NearDedupParams = self.params  # type: ignore[assignment]
        margin = p.verify_margin
        if margin is None:
            margin = default_margin(p.threshold, p.num_perm)
        return Verifier(p.verify, p.threshold, margin, p.ngram, p.seed, parts)

    def run(self, docs: Frame, ctx: GlobalContext) -> Frame:
        p: NearDedupParams = self.params  # type: ignore[assignment]
        bands, rows = self.banding()
        # fail before any work
        previous = _previous_indexes(p.dedup_against, self.instance_name, self._meta())
        sigs, reused = self._signatures(docs, ctx)
        n = sigs.count()
        parts = _partitions(n * bands, p.num_partitions)
        local = _fits_in_driver(n, previous, "signatures", p.local_max_docs, ctx)
        band_rows = sigs.map_blocks(_band_rows(bands, rows))
        band_rows = band_rows.to_local() if local else band_rows.materialize()
        all_bands, all_sigs, ranks = _with_previous(sigs, band_rows, previous, ctx, local)

        candidates = all_bands.partition_map("k", bucket_edges, num_partitions=parts)
        if not local:  # a close pair collides in many bands: verify it once
            candidates = candidates.partition_map("u", unique_candidates, num_partitions=parts)
        candidates = candidates.materialize()
        n_candidates = candidates.count()
        edges, verified = candidates.select(["u", "v"]), {}
        if n_candidates:
            edges, verified = verify_candidates(
                candidates, all_sigs, docs, self._verifier(parts), local
            )
        results, rounds, members = _clusters(edges, ranks, p.max_rounds, parts, local)
        self.last_stats = {
            "documents": n,
            "bands": bands,
            "rows": rows,
            "signatures_reused": reused,
            "candidate_edges": n_candidates,
            **verified,
            "edges": edges.count(),
            "cc_rounds": rounds,
            "cluster_members": members,
        }
        if p.write_index and ctx.output_dir:
            self._write_index(ctx.output_dir, band_rows, sigs, results, parts)
        return _mark_documents(docs, results, "near_duplicate", parts)

    def _write_index(
        self, output_dir: str, band_rows: Frame, sigs: Frame, results: Frame | None, parts: int
    ) -> None:
        out = _index_path(output_dir, self.instance_name)
        _kept_only(band_rows, results, parts).write_parquet(_fresh_dir(fsutil.join(out, "bands")))
        _kept_only(sigs.select([Col.ID, SIGNATURE_COLUMN]), results, parts).write_parquet(
            _fresh_dir(fsutil.join(out, "signatures"))
        )
        _write_meta(out, self._meta())


def _check_signature_column(kind: pa.DataType, num_perm: int) -> None:
    if kind.list_size != num_perm:
        raise ValueError(
            f"column {SIGNATURE_COLUMN} has {kind.list_size} hashes, "
            f"near_dedup expects num_perm={num_perm}"
        )
    if kind.value_type != pa.uint32():
        raise ValueError(
            f"column {SIGNATURE_COLUMN} holds {kind.value_type} values: it was computed by an "
            f"older minhash stage (this version's are uint32, hash version {HASH_VERSION}); "
            "re-run the phase that computes it"
        )


_BAND_SCHEMA = pa.schema([("k", pa.int64()), (Col.ID, pa.string()), ("g", pa.int64())])


def _band_rows(bands: int, rows: int):
    """Per document ``bands`` rows ``(k, id, g)``: band key, id, whole-signature key."""

    def fn(t: pa.Table) -> pa.Table:
        if t.num_rows == 0:
            return _BAND_SCHEMA.empty_table()
        sig = signature_matrix(t[SIGNATURE_COLUMN])
        keys = band_keys(sig, bands, rows)
        take = np.repeat(np.arange(t.num_rows), bands)
        cols = {
            "k": pa.array(keys.reshape(-1).view(np.int64)),
            Col.ID: t[Col.ID].combine_chunks().take(take),
            "g": pa.array(signature_keys(sig)[take]),
        }
        return pa.table(cols).cast(_BAND_SCHEMA)

    return fn


def _flag_old(value: int):
    def fn(t: pa.Table) -> pa.Table:
        flag = pa.array(np.full(t.num_rows, value, dtype=np.int8))
        return pa.table(
            {Col.ID: t[Col.ID], SIGNATURE_COLUMN: t[SIGNATURE_COLUMN], OLD_COLUMN: flag}
        )

    return fn


def _old_ranks(t: pa.Table) -> pa.Table:
    return pa.table({Col.ID: t[Col.ID]} | previous_ranks(t[Col.ID])).cast(RANK_SCHEMA)


def _with_previous(
    sigs: Frame, band_rows: Frame, previous: list[str], ctx: GlobalContext, local: bool
) -> tuple[Frame, Frame, Frame]:
    """Band rows, signatures (flagged by origin) and ranks of this run plus earlier indexes."""
    all_sigs = sigs.map_blocks(_flag_old(0))
    ranks = sigs.select(list(RANK_SCHEMA.names))
    if local:
        all_sigs, ranks = all_sigs.to_local(), ranks.to_local()
    all_bands = band_rows
    for prev in previous:
        all_bands = all_bands.union(ctx.frames.read_parquet(fsutil.join(prev, "bands")))
        old_sigs = ctx.frames.read_parquet(fsutil.join(prev, "signatures"))
        all_sigs = all_sigs.union(old_sigs.map_blocks(_flag_old(1)))
        ranks = ranks.union(old_sigs.map_blocks(_old_ranks))
    return all_bands, all_sigs, ranks


def _clusters(
    edges: Frame, ranks: Frame, max_rounds: int, parts: int, local: bool
) -> tuple[Frame | None, int, int]:
    """Keeper results of the connected components of verified edges (None: no duplicates).

    On the shuffle path the keepers are chosen over salted pieces of each cluster
    (:func:`split_keepers`): a giant cluster never sits whole in one task."""
    if not edges.count():
        return None, 0, 0
    stars, rounds = connected_components(edges, num_partitions=parts, max_rounds=max_rounds)
    members = stars.map_blocks(star_members)
    ranked = members.join(ranks, on=[Col.ID], how="inner", num_partitions=parts)
    if local:
        results = ranked.partition_map(
            "cluster", lambda t: choose_keepers(t, "cluster"), num_partitions=parts
        )
    else:
        results = split_keepers(ranked, "cluster", parts)
    results = results.materialize()
    results, n_members = _nonempty(results)
    return results, rounds, n_members


__all__ = ["INDEX_VERSION", "RANK_COLUMNS", "ExactDedup", "NearDedup"]

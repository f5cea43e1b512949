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
    EDGE_SCHEMA,
    bucket_edges,
    connected_components,
    star_members,
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
    SIGNATURE_COLUMN,
    TEXT_HASH_COLUMN,
    MinHashSpec,
    band_keys,
    estimated_jaccard,
    optimal_bands_rows,
    signature_matrix,
    text_hashes,
)

INDEX_DIR = "dedup_index"
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

        meta = {"kind": "exact", "normalization": p.normalization}
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
    threshold: float = 0.8  # target Jaccard similarity of word n-gram shingle sets
    num_perm: int = 112  # hashes per signature
    ngram: int = 5
    seed: int = 1
    # output folders of earlier runs whose index this run deduplicates against
    dedup_against: list[str] = []
    # LSH banding: explicit, or chosen by optimal_bands_rows(threshold, num_perm, weights).
    bands: int | None = None
    rows: int | None = None
    false_positive_weight: float = 0.05  # a missed duplicate costs more than a checked
    false_negative_weight: float = 0.95  # candidate: 0.05/0.95 gives 14 x 8 at 0.8
    verify: bool = False  # drop candidate edges whose estimated Jaccard < verify_threshold
    verify_threshold: float | None = None  # default: threshold
    keep: str = "first"  # first | longest | quality
    quality_column: str | None = None
    write_index: bool = True
    max_rounds: int = 64  # connected-components rounds before giving up
    num_partitions: int | None = None
    local_max_docs: int = _LOCAL_MAX_DOCS  # up to this many: grouped in the driver, no shuffle


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
        if old != meta:
            raise ValueError(
                f"dedup index in {path} was built with {old}, this run uses {meta}: "
                "signatures are not comparable"
            )
        found.append(path)
    return found


@register_stage
class NearDedup(GlobalStage):
    """MinHash LSH near-deduplication, distributed end to end.

    Uses the ``minhash`` column when present (computed by the per-batch ``minhash`` stage in
    an earlier phase, with the same num_perm/ngram/seed), else computes signatures itself and
    checkpoints them under ``ctx.work_dir`` so a resumed run reuses them. Produces
    ``dup_cluster`` (the smallest id in the cluster, null for singletons) and
    ``dup_cluster_size``; rejects with reason ``near_duplicate`` and the kept id as detail.
    """

    name = "near_dedup"
    outputs = (CLUSTER_COLUMN, SIZE_COLUMN)
    lineage_columns = ("dup_cluster",)
    description = "MinHash LSH near-deduplication with distributed connected components"
    Params = NearDedupParams
    resources = Resources(batch_size=None)

    def banding(self) -> tuple[int, int]:
        p: NearDedupParams = self.params  # type: ignore[assignment]
        if p.bands and p.rows:
            return p.bands, p.rows
        return optimal_bands_rows(
            p.threshold, p.num_perm, p.false_positive_weight, p.false_negative_weight
        )

    def _meta(self) -> dict[str, Any]:
        p: NearDedupParams = self.params  # type: ignore[assignment]
        bands, rows = self.banding()
        return {
            "kind": "minhash",
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
                if sig.type.list_size != p.num_perm:
                    raise ValueError(
                        f"column {SIGNATURE_COLUMN} has {sig.type.list_size} hashes, "
                        f"near_dedup expects num_perm={p.num_perm}"
                    )
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

    def run(self, docs: Frame, ctx: GlobalContext) -> Frame:
        p: NearDedupParams = self.params  # type: ignore[assignment]
        bands, rows = self.banding()
        meta = self._meta()
        # fail before any work
        previous = _previous_indexes(p.dedup_against, self.instance_name, meta)
        sigs, reused = self._signatures(docs, ctx)
        n = sigs.count()
        parts = _partitions(n * bands, p.num_partitions)

        def to_band_rows(t: pa.Table) -> pa.Table:
            if t.num_rows == 0:
                return pa.table({"k": pa.array([], pa.int64()), Col.ID: pa.array([], pa.string())})
            keys = band_keys(signature_matrix(t[SIGNATURE_COLUMN]), bands, rows)
            ids = t[Col.ID].combine_chunks().take(np.repeat(np.arange(t.num_rows), bands))
            return pa.table({"k": pa.array(keys.reshape(-1).view(np.int64)), Col.ID: ids})

        band_rows: Frame = sigs.map_blocks(to_band_rows)
        all_sigs: Frame = sigs.select([Col.ID, SIGNATURE_COLUMN])
        ranks: Frame = sigs.select(list(RANK_SCHEMA.names))
        if _fits_in_driver(n, previous, "signatures", p.local_max_docs, ctx):
            band_rows, ranks = band_rows.to_local(), ranks.to_local()
            if p.verify:
                all_sigs = all_sigs.to_local()
        elif p.write_index and ctx.output_dir:
            band_rows = band_rows.materialize()  # read twice: buckets and the index
        all_bands = band_rows
        for prev in previous:
            all_bands = all_bands.union(ctx.frames.read_parquet(fsutil.join(prev, "bands")))
            old_sigs = ctx.frames.read_parquet(fsutil.join(prev, "signatures"))
            all_sigs = all_sigs.union(old_sigs)
            ranks = ranks.union(
                old_sigs.map_blocks(
                    lambda t: pa.table({Col.ID: t[Col.ID]} | previous_ranks(t[Col.ID])).cast(
                        RANK_SCHEMA
                    )
                )
            )

        edges = all_bands.partition_map("k", bucket_edges, num_partitions=parts).materialize()
        n_candidates = edges.count()
        if p.verify and n_candidates:
            edges = _verify_edges(edges, all_sigs, p.verify_threshold or p.threshold, parts)
        n_edges = edges.count()
        rounds, results, members = 0, None, 0
        if n_edges:
            stars, rounds = connected_components(
                edges, num_partitions=parts, max_rounds=p.max_rounds
            )
            members = stars.map_blocks(star_members)
            ranked = members.join(ranks, on=[Col.ID], how="inner", num_partitions=parts)
            results = ranked.partition_map(
                "cluster", lambda t: choose_keepers(t, "cluster"), num_partitions=parts
            ).materialize()
            results, members = _nonempty(results)
        self.last_stats = {
            "documents": n,
            "bands": bands,
            "rows": rows,
            "signatures_reused": reused,
            "candidate_edges": n_candidates,
            "edges": n_edges,
            "cc_rounds": rounds,
            "cluster_members": members,
        }
        if p.write_index and ctx.output_dir:
            out = _index_path(ctx.output_dir, self.instance_name)
            kept_bands = _kept_only(band_rows, results, parts)
            kept_bands.write_parquet(_fresh_dir(fsutil.join(out, "bands")))
            _kept_only(sigs.select([Col.ID, SIGNATURE_COLUMN]), results, parts).write_parquet(
                _fresh_dir(fsutil.join(out, "signatures"))
            )
            _write_meta(out, meta)
        return _mark_documents(docs, results, "near_duplicate", parts)


def _verify_edges(edges: Frame, sigs: Frame, threshold: float, parts: int) -> Frame:
    """Keep candidate edges whose full-signature Jaccard estimate reaches ``threshold``.

    Two joins bring each endpoint's signature to the edge; the estimate uses all num_perm
    hashes, so it is far tighter than the band collision that proposed the edge.
    """

    def rename(prefix: str):
        def fn(t: pa.Table) -> pa.Table:
            return pa.table({prefix: t[Col.ID], f"sig_{prefix}": t[SIGNATURE_COLUMN]})

        return fn

    with_u = edges.join(sigs.map_blocks(rename("u")), on=["u"], how="inner", num_partitions=parts)
    both = with_u.join(sigs.map_blocks(rename("v")), on=["v"], how="inner", num_partitions=parts)

    def keep(t: pa.Table) -> pa.Table:
        if t.num_rows == 0:
            return EDGE_SCHEMA.empty_table()
        est = estimated_jaccard(signature_matrix(t["sig_u"]), signature_matrix(t["sig_v"]))
        return t.select(["u", "v"]).filter(pa.array(est >= threshold)).cast(EDGE_SCHEMA)

    return both.map_blocks(keep).materialize()


__all__ = ["RANK_COLUMNS", "ExactDedup", "NearDedup"]

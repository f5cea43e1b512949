"""Global deduplication stages: ``exact_dedup`` and ``near_dedup`` (MinHash LSH).

Both work on slim per-document tables (id, signature or hash, rank columns), never moving
text. Up to ``local_max_docs`` documents (a million by default: a few hundred MB of slim
rows), the grouping, connected components and keeper choice run on a :class:`LocalFrame` in
the driver, and the results are broadcast to the documents: a Ray shuffle costs seconds of
fixed overhead each, and a run takes dozens. Above it, every all-to-all step is a hash
shuffle of a :class:`Frame` and the driver only sees counts.

Incremental runs: each run writes an index of the documents it kept under
``OUTPUT/dedup_index/<stage instance>/`` (ids + signatures for near dedup, whose band keys are
recomputed from them; normalized-text hashes + ids for exact dedup). A later run given earlier
outputs in its ``dedup_against`` parameter (on both stages) loads those indexes; their
documents join the grouping with top rank, so new documents colliding with them are rejected,
and old signatures are never recomputed from text.
"""

from __future__ import annotations

import hashlib
import json
import time
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
    BAND_SCHEMA,
    DOC,
    OLD_COLUMN,
    bucket_pairs,
    connected_components,
    contract,
    star_members,
)
from corpusforge.stages.dedup.keep import (
    CLUSTER_COLUMN,
    KEEPER_COLUMN,
    RANK_COLUMNS,
    SIZE_COLUMN,
    apply_results,
    choose_keepers,
    previous_ranks,
    rank_columns,
)
from corpusforge.stages.dedup.kernels import band_and_signature_keys
from corpusforge.stages.dedup.minhash import (
    HASH_VERSION,
    SIGNATURE_COLUMN,
    TEXT_HASH_COLUMN,
    MinHashSpec,
    recall_bands_rows,
    signature_algorithm,
    signature_matrix,
    text_hashes,
)
from corpusforge.stages.dedup.numbers import DOC_BITS, DocNumbers
from corpusforge.stages.dedup.split import rank_rows, split_keepers
from corpusforge.stages.dedup.verify import (
    ACCEPT,
    CHECK,
    COLLIDED,
    VERIFY_MODES,
    Verifier,
    check_on_text,
    counts,
    default_margin,
    sig_rows,
    with_decision,
)

INDEX_DIR = "dedup_index"
# An index of another version is refused. Exact dedup, 2: text hashes from the numba kernel.
# Near dedup, 2: signatures are rensa's uint32 values over numba shingles; 3: the index holds
# the kept ids and signatures only (no band rows: they are recomputed from the signatures).
EXACT_INDEX_VERSION = 2
NEAR_INDEX_VERSION = 3
_MAX_NUMBERING_ATTEMPTS = 4  # a 62-bit hash collision needs one more; four never happen
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

        meta = {"kind": "exact", "version": EXACT_INDEX_VERSION, "normalization": p.normalization}
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
    """Index folders of earlier runs, checked to be compatible with this run's parameters
    (``meta["version"]`` is the version this corpusforge reads)."""
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
        _check_version(path, old, meta["version"])
        if old != meta:
            raise ValueError(
                f"dedup index in {path} was built with {old}, this run uses {meta}: "
                "signatures are not comparable"
            )
        found.append(path)
    return found


def _check_version(path: str, meta: dict[str, Any], expected: int) -> None:
    version = meta.get("version", 1)
    if version != expected:
        raise ValueError(
            f"dedup index in {path} has version {version}, this corpusforge reads version "
            f"{expected} (its hashing or layout changed, so this run cannot read or compare "
            "it): rebuild that index by re-running its dedup with this version, or leave that "
            "output out of dedup_against"
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
    doc_bits = DOC_BITS  # width of document numbers; tests narrow it to force collisions

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
            "version": NEAR_INDEX_VERSION,
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
        clock = _Clock()
        # fail before any work
        previous = _previous_indexes(p.dedup_against, self.instance_name, self._meta())
        sigs, reused = self._signatures(docs, ctx)
        n = sigs.count()
        clock.lap("signatures")
        # shuffle fan-out per step, from the rows it moves (200k a partition, at most 512)
        band_parts = _partitions(n * bands, p.num_partitions, rows_per_partition=1_000_000)
        doc_parts = _partitions(n, p.num_partitions)
        local = _fits_in_driver(n, previous, "signatures", p.local_max_docs, ctx)
        all_sigs = _with_previous(sigs, previous, ctx, local)
        verifier = self._verifier(doc_parts)
        numbers, decided, counted = _numbered_candidates(
            all_sigs, bands, rows, verifier, band_parts, DocNumbers(self.doc_bits)
        )
        clock.lap("candidates")
        edges, n_edges, verified = _verified_edges(decided, counted, docs, numbers, verifier, local)
        clock.lap("text")
        edge_parts = _partitions(2 * n_edges, p.num_partitions)
        ranks = all_sigs.map_blocks(rank_rows(numbers))
        results, rounds, members = _clusters(
            edges, n_edges, ranks, p.max_rounds, edge_parts, doc_parts, clock
        )
        self.last_stats = {
            "documents": n,
            "bands": bands,
            "rows": rows,
            "signatures_reused": reused,
            "candidate_edges": counted["candidates"],
            **verified,
            "edges": n_edges,
            "cc_rounds": rounds,
            "cluster_members": members,
            "renumbered_ids": 0 if numbers.fixed is None else len(numbers.fixed),
            "seconds": clock.seconds,
        }
        if p.write_index and ctx.output_dir:
            self._write_index(ctx.output_dir, sigs, results, doc_parts)
        # the documents with their text: smaller partitions than the slim tables'
        mark_parts = _partitions(4 * n, p.num_partitions)
        return _mark_numbered(docs, results, numbers, "near_duplicate", mark_parts)

    def _write_index(self, output_dir: str, sigs: Frame, results: Frame | None, parts: int) -> None:
        out = _index_path(output_dir, self.instance_name)
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


def _band_rows(bands: int, rows: int, numbers: DocNumbers):
    """Per document ``bands`` rows ``(k, g, _doc)``: band key, whole-signature key, number."""

    def fn(t: pa.Table) -> pa.Table:
        if t.num_rows == 0:
            return BAND_SCHEMA.empty_table()
        sig = signature_matrix(t[SIGNATURE_COLUMN])
        if bands * rows > sig.shape[1]:
            raise ValueError(f"{bands} bands x {rows} rows need {bands * rows} hashes")
        keys, whole = band_and_signature_keys(np.ascontiguousarray(sig), bands, rows)
        cols = {
            "k": keys.reshape(-1),
            "g": np.repeat(whole, bands),
            DOC: np.repeat(numbers(t[Col.ID]), bands),
            "j": np.tile(np.arange(bands, dtype=np.uint8), t.num_rows),
        }
        return pa.table(cols, schema=BAND_SCHEMA)

    return fn


def _numbered_candidates(
    all_sigs: Frame, bands: int, rows: int, verifier: Verifier, parts: int, numbers: DocNumbers
) -> tuple[DocNumbers, Frame, dict[str, int]]:
    """Decided candidate pairs ``(u, v, lk, decision)`` in document numbers, and their counts.

    One execution: the band shuffle by key makes the raw pairs, the first verification
    shuffle (with every document's signature row; as many partitions as the band shuffle: it
    moves the raw pairs, about 20 a clustered document) drops their copies and attaches
    ``u``'s signature, the second (``verifier.parts``) attaches ``v``'s and decides. Where two
    ids share a number, those ids are renumbered and it runs again
    (:mod:`corpusforge.stages.dedup.numbers`)."""
    for _ in range(_MAX_NUMBERING_ATTEMPTS):
        band = all_sigs.map_blocks(_band_rows(bands, rows, numbers))
        raw = band.partition_map("k", bucket_pairs, num_partitions=parts)
        own = all_sigs.map_blocks(sig_rows(numbers, verifier.mode != "none"))
        first = raw.union(own).partition_map("key", verifier.attach_first, num_partitions=parts)
        decided = first.partition_map("key", verifier.decide, num_partitions=verifier.parts)
        decided = decided.materialize()
        counted = _sum_rows(decided.map_blocks(counts))
        if not counted["collided"]:
            return numbers, decided, counted
        numbers = numbers.with_fixes(_collided_ids(decided, all_sigs, numbers))
    raise RuntimeError("near_dedup: document numbers kept colliding after renumbering")


def _sum_rows(frame: Frame) -> dict[str, int]:
    """Column sums of a small per-block table (one row per block), read on the driver."""
    table = frame.to_arrow()
    return {c: int(pc.sum(table[c]).as_py() or 0) for c in table.column_names}


def _collided_ids(decided: Frame, all_sigs: Frame, numbers: DocNumbers) -> list[str]:
    """The ids behind numbers that two ids share (few: read on the driver)."""

    def numbers_of(t: pa.Table) -> pa.Table:
        return t.filter(pc.equal(t["decision"], COLLIDED)).select(["u"])

    shared = decided.map_blocks(numbers_of).to_arrow()
    wanted = np.unique(shared["u"].to_numpy()) if shared.num_rows else np.zeros(0, np.int64)

    def ids_of(t: pa.Table) -> pa.Table:
        hit = np.isin(numbers(t[Col.ID]), wanted)
        return t.select([Col.ID]).filter(pa.array(hit))

    return sorted(set(all_sigs.map_blocks(ids_of).to_arrow()[Col.ID].to_pylist()))


def _flag_old(t: pa.Table) -> pa.Table:
    return t.append_column(OLD_COLUMN, pa.array(np.zeros(t.num_rows, dtype=np.int8)))


def _old_rows(t: pa.Table) -> pa.Table:
    """An earlier run's kept signatures as slim rows: top rank, flagged old."""
    cols = {Col.ID: t[Col.ID], SIGNATURE_COLUMN: t[SIGNATURE_COLUMN]}
    cols |= previous_ranks(t[Col.ID])
    cols[OLD_COLUMN] = pa.array(np.ones(t.num_rows, dtype=np.int8))
    return pa.table(cols)


def _with_previous(sigs: Frame, previous: list[str], ctx: GlobalContext, local: bool) -> Frame:
    """Slim rows ``(id, minhash, rank columns, _old)`` of this run plus the earlier indexes."""
    all_sigs = sigs.map_blocks(_flag_old)
    if local:
        all_sigs = all_sigs.to_local()
    for prev in previous:
        old = ctx.frames.read_parquet(fsutil.join(prev, "signatures")).map_blocks(_old_rows)
        all_sigs = all_sigs.union(old)
    return all_sigs


class _Clock:
    """Seconds per step of a run, for ``last_stats`` (the benchmarks report them)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = round(now - self._last, 1)
        self._last = now


def _verified_edges(
    decided: Frame,
    counted: dict[str, int],
    docs: Frame,
    numbers: DocNumbers,
    verifier: Verifier,
    local: bool,
) -> tuple[Frame, int, dict[str, int]]:
    """Accepted edges ``(u, v, lk)``: by the estimate, plus the unsure pairs whose texts pass;
    their count and how the pairs were decided."""
    edges = decided.map_blocks(with_decision(ACCEPT))
    n_edges = counted["accepted"]
    if verifier.mode == "none":
        return edges, n_edges, {}
    verified = {"accepted_by_estimate": counted["accepted"]}
    if verifier.mode == "text":
        verified["checked_on_text"] = counted["unsure"]
    if counted["unsure"]:
        unsure = decided.map_blocks(with_decision(CHECK))
        checked = check_on_text(unsure, docs, numbers, verifier, local).materialize()
        verified["accepted_on_text"] = checked.count()
        edges, n_edges = edges.union(checked), n_edges + checked.count()
    return edges, n_edges, verified


def _clusters(
    edges: Frame,
    n_edges: int,
    ranks: Frame,
    max_rounds: int,
    edge_parts: int,
    doc_parts: int,
    clock: _Clock,
) -> tuple[Frame | None, int, int]:
    """Keeper results of the connected components of verified edges (None: no duplicates).

    The edges are contracted by bucket, then large-star/small-star rounds finish the
    components; the keepers are chosen over salted pieces of each cluster
    (:func:`split_keepers`): a giant cluster never sits whole in one task."""
    if not n_edges:
        return None, 0, 0
    contracted = edges.partition_map("lk", contract, num_partitions=edge_parts)
    stars, rounds = connected_components(
        contracted, num_partitions=edge_parts, max_rounds=max_rounds
    )
    clock.lap("components")
    members = stars.map_blocks(star_members)
    results = split_keepers(members, ranks, doc_parts, edge_parts).materialize()
    results, n_members = _nonempty(results)
    clock.lap("keepers")
    return results, rounds, n_members


def _mark_numbered(
    docs: Frame, results: Frame | None, numbers: DocNumbers, reason: str, num_partitions: int
) -> Frame:
    """Join per-member results onto the documents by document number and mark duplicates."""
    docs = docs.drop([CLUSTER_COLUMN, SIZE_COLUMN, KEEPER_COLUMN])
    if results is None:
        return docs.map_blocks(lambda t: apply_results(t, reason))

    def numbered(t: pa.Table) -> pa.Table:
        return t.append_column(DOC, pa.array(numbers(t[Col.ID])))

    def marked(t: pa.Table) -> pa.Table:
        return apply_results(t, reason).drop_columns([DOC])

    results = results.select([DOC, CLUSTER_COLUMN, SIZE_COLUMN, KEEPER_COLUMN])
    joined = docs.map_blocks(numbered).join(
        results, on=[DOC], how="left_outer", num_partitions=num_partitions
    )
    return joined.map_blocks(marked)


__all__ = ["EXACT_INDEX_VERSION", "NEAR_INDEX_VERSION", "RANK_COLUMNS", "ExactDedup", "NearDedup"]

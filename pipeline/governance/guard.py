"""Takedowns that stick: phase 0 refuses documents forgotten in this output or in outputs
the run deduplicates against, by id and by normalized-text hash (a re-crawled copy under a
new id too), with fate ``forgotten`` and reason ``forgotten``: never kept, never written to
the rejected output. Applied to every row that has content (live or rejected), just before
the phase-0 fragments are written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.governance import checkpoints, takedowns
from corpusforge.pipeline.governance.textnorm import normalized_hashes
from corpusforge.pipeline.io import fsutil
from corpusforge.schemas import FATE_REJECTED, Col


@dataclass(frozen=True)
class ForgetGuard:
    ids: dict[str, str]  # doc id -> the request that forgot it
    hashes: dict[str, str]  # normalized-text hash -> the request

    def __call__(self, table: pa.Table) -> pa.Table:
        if table.num_rows == 0 or Col.ID not in table.column_names:
            return table
        fates = table.column(Col.FATE) if Col.FATE in table.column_names else None
        has_content = (
            pc.fill_null(pc.equal(fates, FATE_REJECTED), True)
            if fates is not None
            else pa.array([True] * table.num_rows)
        )
        ids = table.column(Col.ID).to_pylist()
        requests = [self.ids.get(i) for i in ids]
        if self.hashes and Col.TEXT in table.column_names:
            for k, h in enumerate(normalized_hashes(table.column(Col.TEXT)).to_pylist()):
                if requests[k] is None and h is not None:
                    requests[k] = self.hashes.get(h)
        hit = pa.array([r is not None for r in requests])
        mask = pc.and_(hit, has_content)
        if not pc.any(mask).as_py():
            return table
        return checkpoints.forget_rows(table, mask, pa.array(requests, pa.string()))


def load_guard(out_dirs: Iterable[str]) -> ForgetGuard | None:
    """The guard for a run writing to the first of ``out_dirs`` (the others: outputs it
    deduplicates against); None when none of them has a takedown."""
    ids: dict[str, str] = {}
    hashes: dict[str, str] = {}
    for out in out_dirs:
        if not fsutil.exists(takedowns.folder(out)):
            continue
        table = takedowns.forgotten(out)
        for doc_id, norm, rid in zip(
            table.column("doc_id").to_pylist(),
            table.column("norm_hash").to_pylist(),
            table.column("request_id").to_pylist(),
            strict=True,
        ):
            ids.setdefault(doc_id, rid)
            if norm:
                hashes.setdefault(norm, rid)
    return ForgetGuard(ids, hashes) if ids else None


def prepare_output(out_dir: str) -> None:
    """Before a run resumes in ``out_dir``: finish a forget a crash interrupted."""
    if fsutil.exists(takedowns.folder(out_dir)):
        from corpusforge.pipeline.governance.forget import finish_pending

        finish_pending(out_dir)

"""Which documents a takedown request names: ids, URLs, domains, SQL over lineage, strings.

Selector values are never stored: a request keeps their count and a hash of the set. URLs,
domains and strings are matched on every copy of a document the output holds (kept and
rejected Parquet, the phase-0 checkpoints), reading only the columns needed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.pipeline.engine.outputs import OUTPUT_DIRS
from corpusforge.pipeline.io import fsutil
from corpusforge.schemas import FATE_FORGOTTEN, FATE_QUARANTINED, Col

# a host is what follows the scheme (and any user info) up to the port, path or query
_HOST = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?(?P<host>[^/:?#]+)"
_PATTERNS_PER_REGEX = 200  # RE2 handles alternations well; bounded for its memory budget


@dataclass
class Selectors:
    ids: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    sql: str | None = None
    contains: list[str] = field(default_factory=list)

    def kinds(self) -> list[str]:
        found = [k for k in ("ids", "urls", "domains", "contains") if getattr(self, k)]
        return [*found, "sql"] if self.sql else found

    def fingerprint(self) -> dict[str, dict[str, int | str]]:
        """Per selector kind: how many values and a hash of the set (never the values)."""
        out: dict[str, dict[str, int | str]] = {}
        for kind in self.kinds():
            values = [self.sql or ""] if kind == "sql" else sorted(set(getattr(self, kind)))
            digest = hashlib.sha256("\n".join(values).encode("utf-8")).hexdigest()
            out[kind] = {"values": len(values), "sha256": digest}
        return out


def read_values(path: str | Path, what: str) -> list[str]:
    """One value per line (blank lines and surrounding whitespace ignored)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {path}: {exc.strerror}") from None
    values = [line.strip() for line in text.splitlines() if line.strip()]
    if not values:
        raise ConfigError(f"{what} file {path} lists nothing")
    return values


def sql_ids(con: duckdb.DuckDBPyConnection, where: str) -> list[str]:
    clause = re.sub(r"^\s*where\s+", "", where.strip(), flags=re.IGNORECASE)
    try:
        rows = con.execute(f"SELECT doc_id FROM documents WHERE {clause}").fetchall()
    except duckdb.Error as exc:
        raise ConfigError(f"--sql: {str(exc).splitlines()[0]}") from None
    return [r[0] for r in rows]


def content_files(out_dir: str, work_dir: str) -> list[str]:
    """Every Parquet file that holds documents' text or URLs."""
    files = []
    for sub in (OUTPUT_DIRS["kept"], OUTPUT_DIRS["rejected"]):
        files += fsutil.listdir(fsutil.join(out_dir, sub), ".parquet")
    return files + fsutil.listdir(fsutil.join(work_dir, "phase0"), ".parquet")


def _read_columns(url: str, wanted: list[str]) -> pa.Table | None:
    fs, path = fsutil.get_fs(url)
    with fs.open(path, "rb") as f:
        pf = pq.ParquetFile(f)
        names = set(pf.schema_arrow.names)
        if Col.ID not in names or not set(wanted) & names:
            return None
        return pf.read(columns=[Col.ID, *[c for c in wanted if c in names]])


def _url_mask(urls: pa.ChunkedArray, exact: set[str], domains: list[str]) -> pa.Array:
    mask = pc.is_in(urls, pa.array(sorted(exact), pa.string()))
    if domains:
        host = pc.utf8_lower(pc.struct_field(pc.extract_regex(urls, _HOST), [0]))
        for d in domains:
            d = d.lower().strip(".")
            on = pc.or_(pc.equal(host, d), pc.ends_with(host, "." + d))
            mask = pc.or_(mask, pc.fill_null(on, False))
    return pc.fill_null(mask, False)


def _text_mask(texts: pa.ChunkedArray, needles: list[str]) -> pa.Array:
    mask = pa.array([False] * len(texts))
    for i in range(0, len(needles), _PATTERNS_PER_REGEX):
        group = needles[i : i + _PATTERNS_PER_REGEX]
        pattern = "|".join(re.escape(n) for n in group)
        hit = pc.match_substring_regex(texts, pattern=pattern, ignore_case=True)
        mask = pc.or_(mask, pc.fill_null(hit, False))
    return mask


def scan_content(files: list[str], sel: Selectors) -> set[str]:
    """Ids of the documents whose URL or text a selector names, over ``files``."""
    wanted = ([Col.URL] if sel.urls or sel.domains else []) + ([Col.TEXT] if sel.contains else [])
    found: set[str] = set()
    if not wanted:
        return found
    for url in files:
        table = _read_columns(url, wanted)
        if table is None or table.num_rows == 0:
            continue
        mask = pa.array([False] * table.num_rows)
        if Col.URL in table.column_names and (sel.urls or sel.domains):
            mask = pc.or_(mask, _url_mask(table.column(Col.URL), set(sel.urls), sel.domains))
        if Col.TEXT in table.column_names and sel.contains:
            mask = pc.or_(mask, _text_mask(table.column(Col.TEXT), sel.contains))
        found.update(table.column(Col.ID).filter(mask).to_pylist())
    return found


@dataclass
class Selection:
    docs: pa.Table  # doc_id, fate, source_path, text_hash of the documents to forget
    not_found: int = 0  # ids named by --ids that lineage does not know
    already: int = 0  # named documents forgotten by an earlier request
    skipped_quarantined: int = 0  # unreadable records: no content to take out
    copies: int = 0  # documents not named but with the exact text of one that is


def resolve(
    con: duckdb.DuckDBPyConnection, sel: Selectors, out_dir: str, work_dir: str
) -> Selection:
    if not sel.kinds():
        raise ConfigError("forget needs a selector: --ids, --urls, --domain, --sql or --contains")
    named = set(sel.ids)
    if sel.sql:
        named.update(sql_ids(con, sel.sql))
    named.update(scan_content(content_files(out_dir, work_dir), sel))
    con.register("_named", pa.table({"doc_id": pa.array(sorted(named), pa.string())}))
    # exact copies of a named document's text go with it (a takedown is about content; the
    # copies would also be refused later by the normalized-text check)
    docs = con.sql(
        """WITH named AS (SELECT d.* FROM documents d JOIN _named USING (doc_id)),
                copies AS (SELECT d.* FROM documents d WHERE d.fate IN ('kept', 'rejected')
                    AND d.text_hash IN (SELECT text_hash FROM named
                                        WHERE fate IN ('kept', 'rejected')))
        SELECT DISTINCT doc_id, fate, source_path, text_hash, doc_id IN (SELECT doc_id
            FROM named) AS named
        FROM (SELECT * FROM named UNION ALL SELECT * FROM copies) ORDER BY doc_id"""
    ).to_arrow_table()
    copies = int(pc.sum(pc.invert(docs.column("named"))).as_py() or 0)
    docs = docs.drop_columns(["named"])
    fates = docs.column("fate")
    known = set(docs.column("doc_id").to_pylist())
    selection = Selection(
        docs=docs.filter(pc.invert(pc.is_in(fates, pa.array([FATE_FORGOTTEN, FATE_QUARANTINED])))),
        not_found=len(set(sel.ids) - known),
        already=int(pc.sum(pc.equal(fates, FATE_FORGOTTEN)).as_py() or 0),
        skipped_quarantined=int(pc.sum(pc.equal(fates, FATE_QUARANTINED)).as_py() or 0),
        copies=copies,
    )
    con.unregister("_named")
    return selection

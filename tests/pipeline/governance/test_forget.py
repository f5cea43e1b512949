"""``corpusforge forget`` on a real run with Megatron and Parquet token sinks, and ``audit``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from engine_helpers import lineage_rows
from typer.testing import CliRunner

from corpusforge.cli.main import app
from corpusforge.pipeline.governance.audit import audit
from corpusforge.pipeline.governance.forget import forget
from corpusforge.pipeline.governance.select import Selectors
from corpusforge.pipeline.lineage.store import check_conservation
from corpusforge.stages.tokenize.source import load_tokenizer
from tests.governance_helpers import EMAIL, build_run, copy_run, pages

pytestmark = pytest.mark.usefixtures("ray_session")

SHARD_DIRS = ("data", "rejected", "tokens", "tokens_pq")
ALL = {r["id"] for r in pages()}


@pytest.fixture(scope="module")
def base_run(tmp_path_factory, ray_session) -> Path:
    return build_run(tmp_path_factory.mktemp("governance"))


def _files(out: Path) -> dict[str, bytes]:
    return {
        f"{d}/{p.name}": p.read_bytes()
        for d in SHARD_DIRS
        for p in sorted((out / d).glob("*"))
        if p.is_file()
    }


def _megatron(prefix: Path) -> list[list[int]]:
    """The shard's sequences, read by megatron-core where it is installed (`.ci/install.sh
    --ci`; the interop extra), else by our own reader of the format (the README's dev install
    has no torch): the texts the shards decode to are checked either way."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from megatron.core.datasets.indexed_dataset import IndexedDataset
    except ImportError:
        from corpusforge.stages.sinks.megatron_format import IndexedShard

        ds = IndexedShard.open(prefix)
    else:
        ds = IndexedDataset(str(prefix), mmap=True)
    return [ds[i].tolist() for i in range(len(ds))]


def check_output(out: Path, gone: set[str]) -> None:
    """Nothing of ``gone`` anywhere; token shards decode to exactly the kept texts."""
    tok = load_tokenizer(str(out.parent / "tok" / "tokenizer.json"))
    kept_ids = []
    for shard in sorted((out / "data").glob("*.parquet")):
        table = pq.read_table(shard)
        ids, texts = table["id"].to_pylist(), table["text"].to_pylist()
        kept_ids += ids
        decoded = [
            tok.decode(s, skip_special_tokens=True) for s in _megatron(out / "tokens" / shard.stem)
        ]
        assert decoded == texts
        tokens_pq = pq.read_table(out / "tokens_pq" / shard.name)
        assert tokens_pq["doc_id"].to_pylist() == ids
        assert [
            tok.decode(s, skip_special_tokens=True) for s in tokens_pq["input_ids"].to_pylist()
        ] == texts
    assert not gone & set(kept_ids)
    rejected = {
        i for p in (out / "rejected").glob("*.parquet") for i in pq.read_table(p)["id"].to_pylist()
    }
    assert not gone & rejected
    report = (out / "report.html").read_text(encoding="utf-8")
    assert not any(f">{d}<" in report or f'"{d}"' in report for d in gone)
    fates = dict(lineage_rows(out, "SELECT doc_id, fate FROM documents"))
    assert {d for d, f in fates.items() if f == "forgotten"} == gone
    assert sorted(kept_ids) == sorted(d for d, f in fates.items() if f == "kept")
    assert check_conservation(str(out / "lineage.duckdb")) == []
    result = audit(str(out))
    assert result.ok, result.problems


TINY = {f"{s}-3" for s in ("alpha.example", "beta.example", "gamma.example")}  # same text
DUPLICATE = {"alpha.example-1", "gamma.example-6"}  # gamma's page 6 copies alpha's page 1
GAMMA = {i for i in ALL if i.startswith("gamma")}
# selector -> (selectors, documents that go: the named ones and exact copies of their text)
CASES = {
    "ids": (
        Selectors(ids=["alpha.example-2", "alpha.example-3", "nope"]),
        {"alpha.example-2"} | TINY,
    ),
    "urls": (Selectors(urls=["https://news.beta.example/p/1"]), {"beta.example-1"}),
    "domain": (Selectors(domains=["gamma.example"]), GAMMA | TINY | DUPLICATE),
    "sql": (
        Selectors(sql="WHERE source_index = 7"),
        {f"{s}-7" for s in ("alpha.example", "beta.example", "gamma.example")},
    ),
    "contains": (Selectors(contains=[EMAIL.upper()]), {"beta.example-5"}),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_forget_by_selector(base_run: Path, tmp_path: Path, kind: str) -> None:
    out = copy_run(base_run, tmp_path / "out")
    (tmp_path / "tok").symlink_to(base_run.parent / "tok")
    sel, gone = CASES[kind]
    before = _files(out)
    affected = {
        f"{'data' if o == 'data' else {'megatron': 'tokens', 'parquet_tokens': 'tokens_pq'}[o]}/{s}"
        for o, s in lineage_rows(
            out,
            "SELECT DISTINCT output, shard FROM doc_outputs WHERE doc_id IN ("
            + ",".join(f"'{d}'" for d in gone)
            + ")",
        )
    }
    preview = forget(str(out), sel, dry_run=True)
    assert preview.documents == len(gone) and _files(out) == before  # a dry run writes nothing
    result = forget(str(out), sel, reason="legal")
    assert result.documents == len(gone)
    assert result.not_found == (1 if kind == "ids" else 0)
    after = _files(out)
    touched = {f for f in before if before[f] != after.get(f)}
    # only the shards that held the documents changed (.idx with its .bin)
    for name in set(before) - touched:
        assert after[name] == before[name]
    data_touched = {f for f in touched if not f.startswith("rejected/") and not f.endswith(".idx")}
    assert data_touched == affected
    check_output(out, gone)
    rows = lineage_rows(out, "SELECT reason, selector_kinds, documents, selectors FROM takedowns")
    assert [r[:3] for r in rows] == [("legal", kind if kind != "domain" else "domains", len(gone))]
    assert EMAIL.lower() not in json.dumps(rows).lower()  # selector values are never stored
    assert forget(str(out), sel).documents == 0  # the same request again: nothing left


def test_forget_cli_and_audit_failures(base_run: Path, tmp_path: Path) -> None:
    out = copy_run(base_run, tmp_path / "out")
    (tmp_path / "tok").symlink_to(base_run.parent / "tok")
    runner = CliRunner()
    res = runner.invoke(app, ["forget", str(out), "--domain", "news.alpha.example", "--dry-run"])
    # alpha's odd pages, and the exact copies of two of them (page 1, the "tiny" page 3)
    assert res.exit_code == 0 and "would forget 7 documents" in res.output, res.output
    res = runner.invoke(app, ["forget", str(out), "--domain", "news.alpha.example"])
    assert res.exit_code == 0, res.output
    (rid,) = lineage_rows(out, "SELECT request_id FROM takedowns")[0]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Governance" in page and rid in page  # the report was rebuilt with the takedown
    res = runner.invoke(app, ["audit", str(out), "--format", "json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["ok"] and report["provenance"]["takedowns"][0]["documents"] == 7
    files = report["provenance"]["runs"][-1]["provenance"]["files"]
    tok_path = str(base_run.parent / "tok" / "tokenizer.json")
    assert {f["path"] for f in files} == {tok_path}  # the tokenizer the run used, hashed
    assert "ray" in report["provenance"]["runs"][-1]["provenance"]["libraries"]
    # a flipped byte in a token shard, then a deleted shard: named, exit code 1
    shard = out / "tokens" / "part-00002.bin"
    data = bytearray(shard.read_bytes())
    data[3] ^= 0x01
    shard.write_bytes(bytes(data))
    res = runner.invoke(app, ["audit", str(out)])
    assert res.exit_code == 1 and "tokens/part-00002.bin" in res.output
    (out / "tokens_pq" / "part-00001.parquet").unlink()
    res = runner.invoke(app, ["audit", str(out)])
    assert res.exit_code == 1 and "tokens_pq/part-00001.parquet" in res.output
    last = lineage_rows(out, "SELECT status FROM audits ORDER BY audited_at DESC LIMIT 1")
    assert last == [("failed",)]


KILL_SCRIPT = """
import os, signal, sys
from corpusforge.pipeline.governance import forget as F, staging as S
from corpusforge.pipeline.governance.select import Selectors
target, where, after = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls = {"n": 0}
module = F if where == "commit" else S
name = "_move" if where == "commit" else "write_like"
original = getattr(module, name)
def killed(*args, **kwargs):
    calls["n"] += 1
    if calls["n"] > after:
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 mid-way
    return original(*args, **kwargs)
setattr(module, name, killed)
F.forget(target, Selectors(domains=["beta.example"], ids=["alpha.example-1"]))
"""


@pytest.mark.parametrize(("where", "after"), [("staging", 3), ("commit", 4)])
def test_kill_9_then_rerun_gives_the_same_result(
    base_run: Path, tmp_path: Path, where: str, after: int
) -> None:
    sel = Selectors(domains=["beta.example"], ids=["alpha.example-1"])
    clean = copy_run(base_run, tmp_path / "clean" / "out")
    (tmp_path / "clean" / "tok").symlink_to(base_run.parent / "tok")
    forget(str(clean), sel)
    out = copy_run(base_run, tmp_path / "killed" / "out")
    (tmp_path / "killed" / "tok").symlink_to(base_run.parent / "tok")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(out), where, str(after)], env=env, check=False
    )
    assert proc.returncode == -9
    forget(str(out), sel)  # the same command again
    assert _files(out) == _files(clean)
    query = "SELECT doc_id, fate, stage, reason, detail FROM documents ORDER BY doc_id"
    assert lineage_rows(out, query) == lineage_rows(clean, query)
    query = "SELECT * FROM doc_outputs ORDER BY output, shard, start"
    assert lineage_rows(out, query) == lineage_rows(clean, query)
    assert len(lineage_rows(out, "SELECT * FROM takedowns")) == 1
    gone = {i for i in ALL if i.startswith("beta")} | DUPLICATE | TINY
    check_output(out, gone)
    assert not list((out / "takedowns").glob("*.staging"))

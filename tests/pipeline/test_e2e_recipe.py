"""The web recipe (examples/web_recipe.yaml): it validates, and it runs end to end on a tiny
crawl written here, from WARC to Megatron token shards, offline."""

from __future__ import annotations

import gzip
import html
import random
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from faker import Faker
from faker.providers.lorem.en_US import Provider as EnLorem
from fastwarc.warc import WarcRecordType

from corpusforge.pipeline import Pipeline
from corpusforge.pipeline.config import load_config
from corpusforge.pipeline.engine.plan import build_stages, split_phases
from corpusforge.stages.sinks.inspect_shards import summarize
from corpusforge.stages.tokenize.source import load_tokenizer
from tests.warc_data import warc_record

# Faker's English word list with stop words weighted in: its lorem sentences alone hold too
# few of them for Gopher's stop-word rule
WORDS = [*EnLorem.word_list, *["the", "and", "of", "to", "that", "with", "have", "be"] * 12]
RECIPE = Path(__file__).resolve().parents[2] / "examples" / "web_recipe.yaml"
STAGES = [
    "langid",
    "gopher_repetition",
    "gopher_quality",
    "c4_quality",
    "fineweb_quality",
    "pii",
    "minhash",
    "exact_dedup",
    "near_dedup",
    "tokenize",
]


def test_recipe_validates() -> None:
    cfg = load_config(RECIPE)
    assert cfg.input.format == "warc"
    planned = build_stages(cfg)
    assert [p.stage.name for p in planned] == STAGES
    phases = split_phases(planned)
    # the two dedup stages are global: each starts a phase of its own
    assert [ph.names[0] for ph in phases] == ["langid", "exact_dedup", "near_dedup"]
    assert [s.kind for s in cfg.output.sinks] == ["megatron"]


# ---------------------------------------------------------------------------- a tiny crawl


def _page(paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Page</title></head><body>'
        "<nav><a href='/'>Home</a> | <a href='/news'>News</a></nav>"
        f"<article>{body}</article><footer>Site footer.</footer></body></html>"
    ).encode()


def write_crawl(path: Path) -> dict[str, list[str]]:
    """A WARC of pages with known fates; returns {kind: [url, ...]}."""
    rng = random.Random(3)
    en, de = Faker("en_US"), Faker("de_DE")
    en.seed_instance(3)
    de.seed_instance(4)

    def prose(f: Faker, words: list[str] | None = WORDS) -> list[str]:
        return [f.paragraph(nb_sentences=rng.randint(5, 7), ext_word_list=words) for _ in range(5)]

    clean = [prose(en) for _ in range(8)]
    base = " ".join(clean[0]).split(" ")
    near = list(base)
    near[len(near) // 2] = "riverbank"  # one word of ~300: Jaccard of 5-grams ~0.97
    email = en.email()
    pages = {
        "clean": clean,
        "exact_dup": [clean[1]],
        "near_dup": [[" ".join(near)]],
        "german": [prose(de, None)],
        "short": [["Buy now. Click here."]],
        "pii": [[*prose(en), f"Write to {email} for the full report on this topic today."]],
    }
    kinds: dict[str, list[str]] = {}
    n = 0
    with open(path, "wb") as w:
        for kind, docs in pages.items():
            for paras in docs:
                uri = f"https://test.example/{kind}/{n}"
                body = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + _page(paras)
                request = warc_record(
                    WarcRecordType.request,
                    uri,
                    b"GET / HTTP/1.1\r\n\r\n",
                    "application/http; msgtype=request",
                    n,
                )
                response = warc_record(
                    WarcRecordType.response, uri, body, "application/http; msgtype=response", n + 1
                )
                # one gzip member per record, as crawlers write them
                w.write(gzip.compress(request, mtime=0) + gzip.compress(response, mtime=0))
                kinds.setdefault(kind, []).append(uri)
                n += 2
    kinds["_email"] = [email]
    return kinds


@pytest.mark.slow  # ~100 s: four Ray phases (read+filters, exact, near dedup, outputs)
@pytest.mark.usefixtures("ray_session")
def test_recipe_runs_from_warc_to_megatron_shards(tmp_path: Path) -> None:
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    kinds = write_crawl(crawl / "part-00000.warc.gz")
    out = tmp_path / "out"
    cfg = load_config(RECIPE)
    cfg = cfg.model_copy(update={"ray": cfg.ray.model_copy(update={"progress": False})})
    result = Pipeline(cfg, inputs=[str(crawl)], output=str(out)).run()

    # 8 clean + the PII page kept; one of each other kind rejected by the right stage
    assert result.quarantined == 0
    assert result.kept == 9, result.rejects_by_reason
    reasons = result.rejects_by_reason
    assert reasons.get("langid:language") == 1
    assert reasons.get("exact_dedup:exact_duplicate") == 1
    assert reasons.get("near_dedup:near_duplicate") == 1
    assert sum(v for k, v in reasons.items() if k.startswith(("gopher", "c4", "fineweb"))) == 1
    assert result.rejected == 4

    kept = pq.read_table(out / "data")
    urls = set(kept.column("url").to_pylist())
    assert urls == set(kinds["clean"]) | set(kinds["pii"])
    assert "input_ids" not in kept.column_names  # dropped: tokens live in the shards
    text = "\n".join(kept.column("text").to_pylist())
    assert kinds["_email"][0] not in text  # redacted before tokenization
    assert "Home | News" not in text  # boilerplate removed by the HTML extraction
    assert pc.sum(kept.column("pii_total")).as_py() >= 1

    # token shards: every kept document, GPT-2 ids + EOS, counts match the stage's n_tokens
    shards = summarize(out)
    assert shards and sum(s.documents for s in shards) == 9
    assert sum(s.tokens for s in shards) == pc.sum(kept.column("n_tokens")).as_py()
    tok = load_tokenizer("gpt2")
    first = kept.column("text")[0].as_py()
    assert kept.column("n_tokens")[0].as_py() == len(tok.encode(first).ids) + 1  # + EOS
    assert all(s.dtype == "uint16" for s in shards)

    # lineage holds every record with its fate
    con = duckdb.connect(str(out / "lineage.duckdb"), read_only=True)
    fates = dict(con.execute("SELECT fate, count(*) FROM documents GROUP BY 1").fetchall())
    con.close()
    assert fates == {"kept": 9, "rejected": 4}

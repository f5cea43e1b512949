"""Write a small mixed example corpus for the quickstart and the end-to-end tests.

    python examples/make_example_corpus.py OUTDIR [--docs 300] [--seed 0]

OUTDIR/corpus/ gets three ``part-0000N.jsonl.gz`` shards, one ``docs.parquet`` and one
``pages.warc.gz`` (HTML pages, a request record per page and one image response). The mix:
clean prose in ten languages (Faker locales), exact and near duplicates, low-quality
documents (very short, repeated lines, symbol soup, all caps), documents with fake PII
(e-mails, phones, IPs, credit cards) and a handful of bad JSONL records (broken JSON, invalid
UTF-8, missing text). OUTDIR/truth.jsonl has one line per record (id, file, kind, language,
duplicate-of) and OUTDIR/manifest.json the counts. The same seed gives the same bytes (for
the same Faker version); nothing outside the installed packages is needed.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from faker import Faker
from fastwarc.warc import WarcRecord, WarcRecordType

LOCALES = {
    "en": "en_US",
    "de": "de_DE",
    "fr": "fr_FR",
    "es": "es_ES",
    "it": "it_IT",
    "pt": "pt_PT",
    "nl": "nl_NL",
    "pl": "pl_PL",
    "ru": "ru_RU",
    "ja": "ja_JP",
}
# Faker has no Portuguese word list (pt_PT falls back to Latin): a small one of our own.
PT_WORDS = (
    "casa tempo cidade trabalho governo mundo vida dia ano país escola família água noite "
    "porta livro rio estrada mercado história ciência música cozinha janela jardim viagem "
    "pessoa amigo cultura projeto empresa saúde cliente sistema problema caminho verdade "
    "grande pequeno novo antigo bonito forte rápido claro simples difícil importante "
    "falar fazer saber ver dizer encontrar pensar chegar conhecer viver escrever abrir"
).split()

N_SHARDS = 3
KINDS = ("clean", "exact_dup", "near_dup", "low_quality", "pii", "bad_record", "html")


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers: dict[str, Faker] = {}
        for i, (lang, loc) in enumerate(LOCALES.items()):
            f = Faker(loc)
            f.seed_instance(seed * 100 + i)
            self.fakers[lang] = f

    def paragraph(self, lang: str) -> str:
        f = self.fakers[lang]
        n = self.rng.randint(4, 7)
        if lang == "pt":
            return " ".join(f.sentence(nb_words=12, ext_word_list=PT_WORDS) for _ in range(n))
        return f.paragraph(nb_sentences=n)

    def prose(self, lang: str) -> str:
        return "\n\n".join(self.paragraph(lang) for _ in range(self.rng.randint(3, 6)))

    def near_copy(self, text: str) -> str:
        words = text.split(" ")
        for _ in range(max(2, len(words) // 40)):  # a few words edited
            i = self.rng.randrange(len(words))
            words[i] = self.rng.choice(words)
        return " ".join(words)

    def low_quality(self, kind: str) -> str:
        f = self.fakers["en"]
        if kind == "short":
            return f.sentence(nb_words=4)
        if kind == "repeated_lines":
            line = f.sentence(nb_words=8)
            return "\n".join([line] * self.rng.randint(15, 30))
        if kind == "symbols":
            alphabet = "#$%&*@!?~^|<>{}[]=+-_0123456789"
            return " ".join(
                "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(3, 12)))
                for _ in range(self.rng.randint(40, 80))
            )
        return "\n".join(f"BUY NOW!!! {self.paragraph('en').upper()}" for _ in range(3))

    def pii(self) -> str:
        f = self.fakers["en"]
        base = self.prose("en")
        sentence = (
            f"Contact {f.name()} at {f.email()} or call {f.phone_number()}. "
            f"The server at {f.ipv4()} took card {f.credit_card_number()}."
        )
        return f"{base}\n\n{sentence}"


def _warc_record(rtype: WarcRecordType, uri: str, content: bytes, ctype: str, n: int) -> bytes:
    rec = WarcRecord()
    rec.init_headers(rtype, content_length=0)
    rec.headers["WARC-Record-ID"] = f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>"
    rec.headers["WARC-Date"] = f"2024-01-{1 + n % 28:02d}T12:00:{n % 60:02d}Z"
    rec.headers["WARC-Target-URI"] = uri
    rec.headers["Content-Type"] = ctype
    rec.set_bytes_content(content)
    out = io.BytesIO()
    rec.write(out)
    return gzip.compress(out.getvalue(), mtime=0)  # one gzip member per record


def _html(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body><nav><a href='/'>Home</a> | "
        f"<a href='/news'>News</a></nav><article><h1>{title}</h1>{body}</article>"
        "<footer>© Example Site. All rights reserved.</footer></body></html>"
    ).encode()


def make_example_corpus(outdir: str | Path, docs: int = 300, seed: int = 0) -> dict[str, Any]:
    """Write the corpus under ``outdir`` and return its counts (also in manifest.json)."""
    if docs < 40:
        raise ValueError("docs must be at least 40 (every kind needs a few documents)")
    out = Path(outdir)
    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    g = _Gen(seed)
    rng = g.rng
    langs = list(LOCALES)

    n_bad = max(3, docs // 50)
    n_html = max(4, docs // 20)
    n_exact, n_near = docs // 12, docs // 12
    n_low, n_pii = docs // 8, docs // 10
    n_clean = docs - n_bad - n_html - n_exact - n_near - n_low - n_pii - 1  # 1: image

    records: list[dict[str, Any]] = []  # JSON-able records for jsonl + parquet
    truth: list[dict[str, Any]] = []
    for i in range(n_clean):
        lang = langs[i % len(langs)]
        records.append({"id": f"ex-{i:05d}", "text": g.prose(lang), "lang": lang, "kind": "clean"})
    originals = list(range(n_clean))
    for kind, count in (("exact_dup", n_exact), ("near_dup", n_near)):
        for _ in range(count):
            src = records[rng.choice(originals)]
            text = src["text"] if kind == "exact_dup" else g.near_copy(src["text"])
            records.append({"text": text, "lang": src["lang"], "kind": kind, "dup_of": src["id"]})
    low_kinds = ("short", "repeated_lines", "symbols", "all_caps")
    for j in range(n_low):
        k = low_kinds[j % len(low_kinds)]
        records.append({"text": g.low_quality(k), "lang": None, "kind": "low_quality", "lowq": k})
    for _ in range(n_pii):
        records.append({"text": g.pii(), "lang": "en", "kind": "pii"})
    for n, rec in enumerate(records):
        rec.setdefault("id", f"ex-{n:05d}")
        rec["url"] = f"https://example.org/{rec['lang'] or 'x'}/{rec['id']}"
    rng.shuffle(records)

    # Parquet gets a sixth of the records, the JSONL shards the rest (plus the bad lines).
    n_parquet = len(records) // 6
    pq_recs, jl_recs = records[:n_parquet], records[n_parquet:]
    pq.write_table(
        pa.Table.from_pylist(
            [{k: r.get(k) for k in ("id", "text", "url", "lang")} for r in pq_recs],
            schema=pa.schema(
                [
                    ("id", pa.string()),
                    ("text", pa.string()),
                    ("url", pa.string()),
                    ("lang", pa.string()),
                ]
            ),
        ),
        corpus / "docs.parquet",
        compression="zstd",
    )
    for i, r in enumerate(pq_recs):
        truth.append(_truth(r, "docs.parquet", i))

    bad_lines = [
        (b'{"id": "bad-%d", "text": "unterminated string, "lang": "en"}', "invalid_json"),
        (b'{"id": "bad-%d", "text": "caf\xe9 latin-1 bytes", "lang": "fr"}', "invalid_utf8"),
        (b'{"id": "bad-%d", "body": "no text field here"}', "missing_text"),
    ]
    shards: list[list[tuple[bytes, dict[str, Any]]]] = [[] for _ in range(N_SHARDS)]
    for i, r in enumerate(jl_recs):
        line = json.dumps({k: r[k] for k in ("id", "text", "url", "lang")}, ensure_ascii=False)
        shards[i % N_SHARDS].append((line.encode(), r))
    for b in range(n_bad):
        raw, kind = bad_lines[b % len(bad_lines)]
        shard = shards[b % N_SHARDS]
        shard.insert(
            rng.randrange(len(shard) + 1),
            (raw % b, {"id": f"bad-{b}", "kind": "bad_record", "bad_kind": kind, "lang": None}),
        )
    for s, shard in enumerate(shards):
        name = f"part-{s:05d}.jsonl.gz"
        data = b"".join(line + b"\n" for line, _ in shard)
        (corpus / name).write_bytes(gzip.compress(data, mtime=0))
        for line_no, (_, r) in enumerate(shard, start=1):
            truth.append(_truth(r, name, line_no))

    # WARC: a request and a response per page, then one non-HTML response.
    parts = [
        _warc_record(
            WarcRecordType.warcinfo,
            "",
            b"software: corpusforge example\r\n",
            "application/warc-fields",
            0,
        )
    ]
    http = "application/http; msgtype=response"
    for p in range(n_html):
        lang = ("en", "de", "fr")[p % 3]
        uri = f"https://news.example.com/{lang}/article-{p}"
        html = _html(g.fakers[lang].sentence(nb_words=5), [g.paragraph(lang) for _ in range(4)])
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        parts.append(
            _warc_record(
                WarcRecordType.request,
                uri,
                f"GET /{lang}/article-{p} HTTP/1.1\r\n\r\n".encode(),
                "application/http; msgtype=request",
                2 * p + 1,
            )
        )
        parts.append(_warc_record(WarcRecordType.response, uri, head + html, http, 2 * p + 2))
        truth.append(
            {"id": None, "file": "pages.warc.gz", "index": p, "kind": "html", "lang": lang}
        )
    png = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n" + bytes(32)
    parts.append(
        _warc_record(
            WarcRecordType.response, "https://news.example.com/logo.png", png, http, 2 * n_html + 1
        )
    )
    truth.append(
        {"id": None, "file": "pages.warc.gz", "index": n_html, "kind": "non_html", "lang": None}
    )
    (corpus / "pages.warc.gz").write_bytes(b"".join(parts))

    kinds: dict[str, int] = {}
    for t in truth:
        kinds[t["kind"]] = kinds.get(t["kind"], 0) + 1
    counts: dict[str, Any] = {
        "seed": seed,
        "records": len(truth),
        "jsonl_records": sum(len(s) for s in shards),
        "parquet_records": len(pq_recs),
        "warc_documents": n_html + 1,
        "warc_skipped_records": n_html + 1,  # warcinfo + one request per page
        "kinds": dict(sorted(kinds.items())),
        "languages": sorted({t["lang"] for t in truth if t.get("lang")}),
        "files": sorted(p.name for p in corpus.iterdir()),
    }
    with open(out / "truth.jsonl", "w", encoding="utf-8") as fh:
        for t in truth:
            fh.write(json.dumps(t, ensure_ascii=False) + "\n")
    (out / "manifest.json").write_text(json.dumps(counts, indent=2) + "\n")
    return counts


def _truth(rec: dict[str, Any], file: str, where: int) -> dict[str, Any]:
    """One truth row; ``line`` is 1-based for JSONL, ``index`` the row for Parquet."""
    key = "line" if file.endswith(".gz") else "index"
    row = {
        "id": rec.get("id"),
        "file": file,
        key: where,
        "kind": rec["kind"],
        "lang": rec.get("lang"),
    }
    for extra in ("dup_of", "lowq", "bad_kind"):
        if extra in rec:
            row[extra] = rec[extra]
    return row


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    counts = make_example_corpus(args.outdir, args.docs, args.seed)
    print(json.dumps(counts, indent=2))


if __name__ == "__main__":
    main()

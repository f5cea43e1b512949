"""The tokenize stage over a long stream, next to gigatoken alone: speed and memory as a
worker goes on.

gigatoken keeps the ids of every distinct pre-token it has encoded, across calls, with no
limit. A fresh worker pays for every word's BPE; later batches mostly hit the cache. What a
terabyte costs depends on where a long-lived worker ends up, and what it holds in memory
then. This prints, every ``--chunk-mb`` MB of text: MB per CPU second of the encode calls
(``time.process_time``, so per core) and the process's resident memory, for

- **ours**: ``TokenizeStage.process`` (gpt2, the CPU default: gigatoken checked against HF,
  the scan for code points HF classes differently, BOS/EOS framing, the Arrow list column), with
  its default ``cache_mb`` (the worker rebuilds the tokenizer when its cache has added that much
  resident memory);
- **gigatoken**: ``encode_batch(parallel=False)`` on the same Arrow batches (its cache
  unbounded);

each in a fresh child process of its own, on two streams:

- ``corpus``: the texts of a ``make_corpus.py`` corpus, in order. Its documents are remixed
  from a few MB of source text, so its vocabulary runs out sooner than a web crawl's: the later
  chunks are an upper bound for real text, the first chunk is a fresh worker (the lower bound);
- ``new-words``: generated text in which almost every word is new (ten random lowercase
  letters after a space): the worst case for the cache's memory and for speed.

Usage::

    python benchmarks/bench_tokenize_stream.py --corpus /tmp/bench_std --mb 300 \
        --new-words-mb 300 [--chunk-mb 20] [--markdown]
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stages import tokenize_peers

BATCH_DOCS = 1024  # the stage's batch size


def corpus_batches(corpus: Path, mb: float) -> Iterator[pa.Table]:
    """The corpus' string texts in order, ``BATCH_DOCS`` documents per table, ``mb`` MB in all
    (the JSON parsing is outside the timing). Streamed, not loaded whole as ``load_slice``
    does, so the resident memory printed is the encoder's."""
    texts: list[str] = []
    total = 0
    for shard in sorted(corpus.rglob("*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as f:
            for line in f:
                try:
                    text = json.loads(line).get("text")
                except (json.JSONDecodeError, AttributeError):
                    continue  # the corpus' deliberately bad records
                if not isinstance(text, str):
                    continue
                texts.append(text)
                total += len(text.encode("utf-8"))
                if len(texts) == BATCH_DOCS or total >= mb * 1e6:
                    yield pa.table({"id": [""] * len(texts), "text": texts})
                    texts = []
                if total >= mb * 1e6:
                    return
    if texts:
        yield pa.table({"id": [""] * len(texts), "text": texts})


def new_word_batches(mb: float, seed: int = 0) -> Iterator[pa.Table]:
    """Documents of 1,000 words of ten random lowercase letters after a space (one pre-token
    each, new with probability ~1 - 1e-8), ``BATCH_DOCS`` documents (11.3 MB) per table, as
    many tables as make ``mb`` MB at most."""
    rng = np.random.default_rng(seed)
    n_words, word_bytes = 1000, 11  # " " + ten letters
    doc_bytes = n_words * word_bytes
    for _ in range(int(mb * 1e6 / (BATCH_DOCS * doc_bytes))):
        shape = (BATCH_DOCS * n_words, word_bytes)
        words = rng.integers(ord("a"), ord("z") + 1, size=shape, dtype=np.uint8)
        words[:, 0] = ord(" ")
        blob = words.tobytes().decode()
        texts = [blob[i : i + doc_bytes] for i in range(0, len(blob), doc_bytes)]
        yield pa.table({"id": [""] * len(texts), "text": texts})


def encoder(side: str) -> tuple[Callable[[pa.Table], object], Any]:
    """The timed call of one side, and our stage (None for the library)."""
    if side == "ours":
        from corpusforge.stages.tokenize.stage import TokenizeStage

        stage = TokenizeStage(tokenizer="gpt2", device="cpu")
        stage.ensure_setup()
        stage.process(pa.table({"id": ["w"], "text": ["load the kernels, as a worker's setup"]}))
        return stage.process, stage
    _, gigatoken_alone = tokenize_peers()  # the library as bench_stages times it
    return gigatoken_alone, None


def child(side: str, stream: str, corpus: Path, mb: float, chunk_mb: float) -> None:
    """Run one side over one stream; one JSON line per chunk, then one for the whole."""
    run, stage = encoder(side)
    batches = corpus_batches(corpus, mb) if stream == "corpus" else new_word_batches(mb)
    proc = psutil.Process()
    seen = chunk_bytes = 0
    chunk_s = total_s = 0.0
    for table in batches:
        size = pc.sum(pc.binary_length(table.column("text"))).as_py() or 0
        start = time.process_time()
        run(table)
        took = time.process_time() - start
        seen += size
        chunk_bytes += size
        chunk_s += took
        total_s += took
        if chunk_bytes >= chunk_mb * 1e6:
            line = {"seen_mb": round(seen / 1e6), "mbps": round(chunk_bytes / 1e6 / chunk_s, 1)}
            print(json.dumps({**line, "rss_mb": round(proc.memory_info().rss / 1e6)}), flush=True)
            chunk_bytes, chunk_s = 0, 0.0
    whole = {"total_mb": round(seen / 1e6, 1), "mbps": round(seen / 1e6 / total_s, 1)}
    if stage is not None:
        whole["cache_resets"] = stage.giga.cache_resets
    whole["peak_rss_mb"] = round(peak_rss_bytes() / 1e6)
    print(json.dumps({"whole": whole}), flush=True)


def peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def run_child(side: str, stream: str, args: argparse.Namespace, mb: float) -> dict:
    cmd = [sys.executable, __file__, "--child", side, "--stream", stream]
    cmd += ["--corpus", str(args.corpus), "--mb", str(mb), "--chunk-mb", str(args.chunk_mb)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode:
        sys.exit(f"{side} on {stream} failed:\n{out.stderr[-2000:]}")
    lines = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
    return {"chunks": [x for x in lines if "whole" not in x], "whole": lines[-1]["whole"]}


def report(stream: str, ours: dict, lib: dict, markdown: bool) -> None:
    print(f"\n{stream}: MB/s per core of the encode calls / resident MB, per chunk")
    head = "| seen MB | ours MB/s | gigatoken MB/s | ours RSS MB | gigatoken RSS MB |"
    print(head if markdown else head.replace("|", " "))
    if markdown:
        print("|---|---|---|---|---|")
    for a, b in zip(ours["chunks"], lib["chunks"], strict=False):
        row = [a["seen_mb"], a["mbps"], b["mbps"], a["rss_mb"], b["rss_mb"]]
        print("| " + " | ".join(str(x) for x in row) + " |")
    wo, wl = ours["whole"], lib["whole"]
    print(
        f"whole stream ({wo['total_mb']} MB): ours {wo['mbps']} MB/s, gigatoken {wl['mbps']} "
        f"MB/s (ratio {wo['mbps'] / wl['mbps']:.2f}); peak RSS ours {wo['peak_rss_mb']} MB, "
        f"gigatoken {wl['peak_rss_mb']} MB; our cache resets: {wo.get('cache_resets')}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/bench_std"))
    ap.add_argument("--mb", type=float, default=300, help="MB of corpus text (0: skip)")
    ap.add_argument("--new-words-mb", type=float, default=300, help="MB of new words (0: skip)")
    ap.add_argument("--chunk-mb", type=float, default=20)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--child", choices=["ours", "gigatoken"], help=argparse.SUPPRESS)
    ap.add_argument("--stream", choices=["corpus", "new-words"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.stream, args.corpus, args.mb, args.chunk_mb)
        return
    print(f"load average at start: {psutil.getloadavg()}")
    for stream, mb in (("corpus", args.mb), ("new-words", args.new_words_mb)):
        if mb > 0:
            ours = run_child("ours", stream, args, mb)
            lib = run_child("gigatoken", stream, args, mb)
            report(stream, ours, lib, args.markdown)


if __name__ == "__main__":
    main()

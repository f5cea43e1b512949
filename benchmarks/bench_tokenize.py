"""Tokenization throughput, side by side on one machine, with id parity on every document.

``--mode compare`` (default) times, on the same texts and byte-sized batches:

- **ours**: the device BPE of the tokenize stage (:mod:`gpu_tokenizer`): Arrow text buffers in,
  Megatron-layout tokens + lengths out (one download per batch), then the stage's
  ``input_ids`` list column built from them. ``--device gpu``: on the GPU (CUDA kernels);
  ``--device cpu``: the same kernels compiled for one CPU core (a correctness path, not a
  fast one);
- **gigatoken** ``encode_batch(parallel=True)``: all CPU cores (the fastest CPU library);
- **HF tokenizers** ``encode_batch_fast``: all CPU cores (the reference for ids);

and checks that ours and gigatoken give HF's ids on every document. ``--mode stage`` is the
older CPU comparison of the tokenize stage (hf path) against raw HF ``encode_batch``.

Commands and figures: benchmarks/README_tokenize.md (the GPU run: bench_tokenize_gpu.sh).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import lzma
import os
import sys
import time
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]


def light_imports() -> None:
    """Import the tokenize modules without the other stage families or the engine.

    A GPU image has numba, CuPy, pyarrow and tokenizers but not the engine's dependencies
    (pydantic, Ray, Presidio, ...): bare package objects stand in for the package ``__init__``s
    that would import them. Without an installed corpusforge, the repo is mapped in.
    """
    for name, sub in (
        ("corpusforge", ""),
        ("corpusforge.pipeline", "pipeline"),
        ("corpusforge.pipeline.api", "pipeline/api"),
        ("corpusforge.stages", "stages"),
        ("corpusforge.stages.sinks", "stages/sinks"),
        ("corpusforge.stages.tokenize", "stages/tokenize"),
    ):
        if name not in sys.modules:
            mod = types.ModuleType(name)
            mod.__path__ = [str(REPO / sub)] if sub else []  # type: ignore[attr-defined]
            sys.modules[name] = mod


def load_texts(corpus: Path, mb: float) -> list[str]:
    """The first ``mb`` MB of text of a make_corpus.py corpus, in file order."""
    texts, size = [], 0
    parts = sorted((corpus / "corpus").glob("*.jsonl.gz")) + sorted(
        (corpus / "corpus").glob("*.jsonl.xz")  # bench_tokenize_gpu.sh carries the text as xz
    )
    for part in parts:
        opener = lzma.open if part.suffix == ".xz" else gzip.open
        with opener(part, "rt", encoding="utf-8") as f:
            for line in f:
                try:
                    text = json.loads(line).get("text")
                except json.JSONDecodeError:
                    continue
                if isinstance(text, str) and text:
                    texts.append(text)
                    size += len(text.encode("utf-8"))
                    if size >= mb * 1e6:
                        return texts
    return texts


def byte_batches(column: pa.LargeStringArray, batch_mb: float) -> list[pa.LargeStringArray]:
    """Slices of about ``batch_mb`` MB of text each."""
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64)[: len(column) + 1]
    cuts = np.searchsorted(offsets, np.arange(0, offsets[-1], batch_mb * 1e6), side="left")
    bounds = [*np.unique(cuts).tolist(), len(column)]
    return [column.slice(a, b - a) for a, b in itertools.pairwise(bounds) if b > a]


def identical_docs(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> int:
    """How many documents have the same ids in ``a`` and ``b`` (flat ids, offsets)."""
    (ai, ao), (bi, bo) = a, b
    same_len = np.diff(ao) == np.diff(bo)
    if not same_len.all() or ao[-1] != bo[-1]:
        return sum(
            1
            for d in range(len(ao) - 1)
            if np.array_equal(ai[ao[d] : ao[d + 1]], bi[bo[d] : bo[d + 1]])
        )
    diff = np.concatenate([(ai.astype(np.int64) != bi.astype(np.int64)), [False]])
    bad = np.add.reduceat(diff.astype(np.int64), ao[:-1]) * (np.diff(ao) > 0)
    return int(np.sum(bad == 0))


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def flat(lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    arr = pa.array(lists, type=pa.large_list(pa.int32()))
    return arr.values.to_numpy(), arr.offsets.to_numpy()


def run_hf(hf: Any, batches: list[pa.LargeStringArray]) -> tuple[list[list[int]], float]:
    lists = [b.to_pylist() for b in batches]  # Python strings: HF's input, built untimed
    hf.encode_batch_fast(lists[0][:64], add_special_tokens=False)  # start the thread pool

    def go() -> list[list[int]]:
        out: list[list[int]] = []
        for texts in lists:
            out.extend(e.ids for e in hf.encode_batch_fast(texts, add_special_tokens=False))
        return out

    return timed(go)


def run_gigatoken(hf: Any, batches: list[pa.LargeStringArray]) -> tuple[Any, float] | None:
    try:
        import awkward as ak
        import gigatoken
    except ImportError:
        return None
    tok = gigatoken.Tokenizer.from_json(hf.to_str())
    tok.encode_batch(ak.from_arrow(batches[0].slice(0, 64), highlevel=True), parallel=True)

    def go() -> tuple[np.ndarray, np.ndarray]:
        ids, lens = [], []
        for b in batches:
            layout = tok.encode_batch(ak.from_arrow(b, highlevel=True), parallel=True).layout
            off = np.asarray(layout.offsets, dtype=np.int64)
            ids.append(np.asarray(layout.content.data)[off[0] : off[-1]])
            lens.append(np.diff(off))
        return np.concatenate(ids), np.concatenate([[0], np.cumsum(np.concatenate(lens))])

    return timed(go)


def run_ours(
    hf: Any, batches: list[pa.LargeStringArray], backend: str
) -> tuple[tuple[np.ndarray, np.ndarray], float, dict[str, float]]:
    from corpusforge.stages.tokenize.gpu_backend import cuda_available
    from corpusforge.stages.tokenize.gpu_metrics import GpuSampler
    from corpusforge.stages.tokenize.gpu_tokenizer import DeviceBPETokenizer

    if backend == "cuda" and not cuda_available():
        raise RuntimeError("no CUDA device visible to numba (this benchmark needs a GPU)")

    (tok, init_s) = timed(lambda: DeviceBPETokenizer(hf.to_str(), backend=backend))
    _, warm_s = timed(lambda: tok.encode_arrow(batches[0].slice(0, 256)))  # compiles kernels

    def go() -> tuple[np.ndarray, np.ndarray]:
        ids, lens = [], []
        for b in batches:
            out = tok.encode_arrow(b)
            # what the stage adds on the host: its input_ids list<int32> column
            lists = pa.LargeListArray.from_arrays(
                pa.array(out.offsets()), out.tokens.astype(np.int32)
            )
            ids.append(lists.values.to_numpy())
            lens.append(out.lengths)
        return np.concatenate(ids), np.concatenate([[0], np.cumsum(np.concatenate(lens))])

    with GpuSampler() as sampler:
        result, seconds = timed(go)
    stats = {
        "init_s": init_s,
        "warmup_s": warm_s,
        "cache_resets": tok.cache.resets,
        **sampler.summary(),
    }
    return result, seconds, stats


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """One tokenizer: ours, gigatoken and HF on the same batches, parity on every document."""
    from corpusforge.stages.tokenize.source import load_tokenizer

    texts = load_texts(args.corpus, args.mb)
    column = pa.array(texts, type=pa.large_string())
    mb = column.buffers()[2].size / 1e6 if len(column) else 0.0
    batches = byte_batches(column, args.batch_mb)
    del texts
    hf = load_tokenizer(args.tokenizer)
    row: dict[str, Any] = {"tokenizer": args.tokenizer, "docs": len(column), "mb": round(mb, 1)}
    print(
        f"{args.tokenizer}: {len(column)} documents, {mb:.1f} MB, {len(batches)} batches, "
        f"{os.cpu_count()} CPU cores",
        flush=True,
    )
    ref_lists, hf_s = run_hf(hf, batches)
    ref = flat(ref_lists)
    del ref_lists
    n_tok = int(ref[1][-1])
    row.update(tokens=n_tok, hf_s=hf_s)
    print(f"  HF tokenizers (all cores): {mb / hf_s:9.1f} MB/s  {n_tok / hf_s / 1e6:7.2f} M tok/s")
    giga = run_gigatoken(hf, batches)
    if giga is not None:
        g_ids, g_s = giga
        row.update(gigatoken_s=g_s, gigatoken_identical=identical_docs(g_ids, ref))
        print(
            f"  gigatoken (all cores):     {mb / g_s:9.1f} MB/s  {n_tok / g_s / 1e6:7.2f} M tok/s"
            f"  identical {row['gigatoken_identical']}/{len(column)}"
        )
    backend = "cuda" if args.device == "gpu" else "cpu"
    try:
        ours, ours_s, stats = run_ours(hf, batches, backend)
    except Exception as exc:  # HF and gigatoken figures still count; the error is the result
        traceback.print_exc()
        row["ours_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        print(f"  ours ({backend}): not run: {row['ours_error']}", flush=True)
        return row
    row.update(
        ours_s=ours_s, ours_identical=identical_docs(ours, ref), ours_backend=backend, **stats
    )
    print(
        f"  ours ({backend}):                {mb / ours_s:9.1f} MB/s  "
        f"{n_tok / ours_s / 1e6:7.2f} M tok/s"
        f"  identical {row['ours_identical']}/{len(column)}  {stats}"
    )
    if giga is not None:
        print(
            f"  ours / gigatoken: {row['gigatoken_s'] / ours_s:.2f}x;  "
            f"ours / HF: {hf_s / ours_s:.2f}x"
        )
    return row


def stage_overhead(args: argparse.Namespace) -> None:
    """The tokenize stage (hf path) against raw HF ``encode_batch``: CPU seconds and wall."""
    from corpusforge.stages.tokenize.source import load_tokenizer
    from corpusforge.stages.tokenize.stage import TokenizeStage

    texts = load_texts(args.corpus, args.mb)
    chunks = [texts[i : i + 1024] for i in range(0, len(texts), 1024)]
    hf = load_tokenizer(args.tokenizer)
    hf.encode_batch(chunks[0][:64])
    stage = TokenizeStage(
        tokenizer=args.tokenizer, device="cpu", implementation="hf", add_eos=False
    )
    stage.ensure_setup()
    tables = [pa.table({"id": [str(i) for i in range(len(c))], "text": c}) for c in chunks]
    best = {"peer": [float("inf")] * 2, "ours": [float("inf")] * 2}
    for _ in range(args.rounds):  # alternate, keep each side's least disturbed round
        for side in best:
            t0, c0 = time.perf_counter(), time.process_time()
            if side == "peer":
                for c in chunks:
                    [e.ids for e in hf.encode_batch(c, add_special_tokens=False)]
            else:
                for t in tables:
                    stage(t)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            best[side] = [min(best[side][0], wall), min(best[side][1], cpu)]
    (pw, pc), (ow, oc) = best["peer"], best["ours"]
    print(
        f"peer encode_batch: {pw:.2f} s wall, {pc:.2f} s CPU; stage: {ow:.2f} s wall, "
        f"{oc:.2f} s CPU; overhead {ow / pw - 1:+.1%} wall, {oc / pc - 1:+.1%} CPU"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/bench_std"))
    ap.add_argument("--mb", type=float, default=20, help="MB of text from the corpus start")
    ap.add_argument("--tokenizer", default="gpt2", help="gpt2, cl100k, or a tokenizer.json")
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--mode", default="compare", choices=["compare", "stage"])
    ap.add_argument("--batch-mb", type=float, default=16, help="MB of text per batch")
    ap.add_argument("--rounds", type=int, default=2, help="--mode stage: alternated rounds")
    ap.add_argument("--json", type=Path, help="append the figures as one JSON line here")
    args = ap.parse_args()
    if args.mode == "stage":
        stage_overhead(args)
        return
    light_imports()
    row = compare(args)
    print(f"  load average: {os.getloadavg()}")
    if args.json:
        with open(args.json, "a", encoding="utf-8") as f:
            f.write(json.dumps({**row, "loadavg": os.getloadavg()}) + "\n")
    if "ours_error" in row:
        sys.exit(3)


if __name__ == "__main__":
    main()

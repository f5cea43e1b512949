"""Which BPE library is fastest per core, exactly? Every candidate on the same 20 MB slice.

The tokenize stage's CPU path wraps gigatoken because it was the fastest library whose ids
equal HF ``tokenizers``' that we knew of. This checks that claim against the other Rust BPE
libraries on PyPI that load GPT-2 or cl100k offline: each library in a fresh child process of
its own, one thread where it lets us choose (``RAYON_NUM_THREADS=1``; CPU time counts every
thread anyway, so a library that still spreads out is not flattered), batches of 1,024
documents handed over as Arrow string arrays, as the pipeline hands them to a stage (a library
that takes Python strings pays for ``to_pylist``; gigatoken reads the Arrow buffers). Two
passes over the slice: **cold** (a fresh tokenizer: every word's BPE) and **again** (the same
texts a second time: shows a cache across calls). Every fourth batch of the cold pass is
compared with HF's ids document by document.

The candidates are not dependencies of corpusforge; install the ones to compare::

    pip install fastokens kitoken splintr-rs bpe-openai rs-bpe  # tiktoken: installed already
    python benchmarks/bench_bpe_libraries.py --corpus /tmp/bench_30 --mb 20 [--markdown]

Libraries that are missing, or cannot load a tokenizer offline, are listed with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stages import load_slice, mb_of

BATCH = 1024
# library -> tokenizers it can load offline here (cl100k-only ones bundle only cl100k)
CANDIDATES = {
    "gigatoken": ("gpt2", "cl100k"),
    "fastokens": ("gpt2", "cl100k"),
    "kitoken": ("gpt2", "cl100k"),
    "tiktoken": ("cl100k",),
    "splintr": ("cl100k",),
    "bpe_openai": ("cl100k",),
    "rs_bpe": ("cl100k",),
    "hf_tokenizers": ("gpt2", "cl100k"),
}
Encoder = tuple[Callable[[pa.Array], Any], Callable[[pa.Array], list[list[int]]]]


def tiktoken_cl100k() -> Any:
    """tiktoken's own cl100k_base (its pattern and specials) on the rank file corpusforge
    reads offline, instead of the copy tiktoken would download."""
    import tiktoken
    import tiktoken_ext.openai_public as public
    from tiktoken.load import load_tiktoken_bpe

    from corpusforge.stages.tokenize.tiktoken_convert import cl100k_rank_file

    path = str(cl100k_rank_file())
    public.load_tiktoken_bpe = lambda *_args, **_kw: load_tiktoken_bpe(path)
    return tiktoken.Encoding(**public.cl100k_base())


def flat_lists(ids: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    return [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]


def build(lib: str, name: str) -> Encoder:
    """(timed, ids): ``timed`` encodes an Arrow batch (what a pipeline stage is handed) into
    the library's own output (flat buffers where it has a bulk API, lists where lists are its
    API; a library that takes Python strings pays for them); ``ids`` gives lists to check."""
    from corpusforge.stages.tokenize.source import load_tokenizer

    hf = load_tokenizer(name)
    if lib == "hf_tokenizers":

        def hf_ids(batch: pa.Array) -> list[list[int]]:
            encs = hf.encode_batch(batch.to_pylist(), add_special_tokens=False)
            return [e.ids for e in encs]

        return hf_ids, hf_ids
    if lib == "gigatoken":
        import awkward as ak
        import gigatoken

        tok = gigatoken.Tokenizer.from_json(hf.to_str())

        def giga(batch: pa.Array) -> Any:
            return tok.encode_batch(ak.from_arrow(batch, highlevel=True), parallel=False)

        def giga_ids(batch: pa.Array) -> list[list[int]]:
            layout = giga(batch).layout
            return flat_lists(np.asarray(layout.content.data), np.asarray(layout.offsets))

        return giga, giga_ids
    if lib in ("fastokens", "splintr"):
        if lib == "fastokens":
            import fastokens

            tok = fastokens.Tokenizer.from_json_str(hf.to_str())
        else:
            import splintr

            tok = splintr.Tokenizer.from_pretrained("cl100k_base")

        def bulk(batch: pa.Array) -> Any:
            return tok.encode_batch_flat(batch.to_pylist())  # the bulk path: two buffers

        def bulk_ids(batch: pa.Array) -> list[list[int]]:
            raw_ids, raw_off = bulk(batch)
            off = np.frombuffer(raw_off, np.uint64).astype(np.int64)
            return flat_lists(np.frombuffer(raw_ids, np.uint32), off)

        return bulk, bulk_ids
    if lib == "kitoken":
        from kitoken import Kitoken

        tok = Kitoken.from_tokenizers(hf.to_str().encode())

        def kit(batch: pa.Array) -> list[list[int]]:
            return tok.encode_all(batch.to_pylist())

        return kit, kit
    if lib == "tiktoken":
        enc = tiktoken_cl100k()

        def tik(batch: pa.Array) -> list[list[int]]:
            return enc.encode_ordinary_batch(batch.to_pylist(), num_threads=1)

        return tik, tik
    if lib == "bpe_openai":
        import bpe_openai

        enc = bpe_openai.get_encoding("cl100k_base")

        def bpe(batch: pa.Array) -> list[list[int]]:
            return [enc.encode(t) for t in batch.to_pylist()]

        return bpe, bpe
    if lib == "rs_bpe":
        from rs_bpe.bpe import openai

        tok = openai.cl100k_base()

        def rs(batch: pa.Array) -> list[list[int]]:
            return [tok.encode(t) for t in batch.to_pylist()]

        return rs, rs
    raise ValueError(lib)


def child(lib: str, name: str, corpus: Path, mb: float) -> dict[str, Any]:
    os.environ["RAYON_NUM_THREADS"] = "1"
    texts = [r["text"] for r in load_slice(corpus, mb)]
    try:
        encode, ids_of = build(lib, name)
    except Exception as exc:  # missing package, no offline tokenizer, unsupported model
        return {"lib": lib, "tokenizer": name, "error": f"{type(exc).__name__}: {exc}"[:160]}
    column = pa.array(texts, pa.large_string())
    batches = [column.slice(i, BATCH) for i in range(0, len(texts), BATCH)]
    passes = []
    for _ in range(2):
        start = time.process_time()
        for batch in batches:
            encode(batch)
        passes.append(mb_of(texts) / (time.process_time() - start))
    from corpusforge.stages.tokenize.source import load_tokenizer

    hf = load_tokenizer(name)
    checked = differ = 0
    for batch in batches[::4]:
        want = [e.ids for e in hf.encode_batch(batch.to_pylist(), add_special_tokens=False)]
        for got, ref in zip(ids_of(batch), want, strict=True):
            checked += 1
            differ += list(got) != ref
    return {
        "lib": lib,
        "tokenizer": name,
        "cold_mbps": round(passes[0], 1),
        "again_mbps": round(passes[1], 1),
        "checked": checked,
        "differ": differ,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/bench_30"))
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--only", help="comma-separated libraries")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--child", nargs=2, metavar=("LIB", "TOKENIZER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.corpus, args.mb)), flush=True)
        return
    wanted = args.only.split(",") if args.only else list(CANDIDATES)
    rows = []
    for name in ("gpt2", "cl100k"):
        for lib in wanted:
            if name not in CANDIDATES[lib]:
                continue
            cmd = [sys.executable, __file__, "--child", lib, name]
            cmd += ["--corpus", str(args.corpus), "--mb", str(args.mb)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
            row = json.loads(lines[-1]) if lines else {"lib": lib, "tokenizer": name}
            if not lines:
                row["error"] = (out.stderr.strip().splitlines() or ["no output"])[-1][:160]
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(f"\nMB/s per core, {args.mb:g} MB of {args.corpus.name}, one process per figure")
    print("| tokenizer | library | cold | again | docs checked | ids differ from HF |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['tokenizer']} | {r['lib']} | - | - | - | not run: {r['error']} |")
        else:
            cells = [r["tokenizer"], r["lib"], r["cold_mbps"], r["again_mbps"]]
            cells += [r["checked"], r["differ"]]
            print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()

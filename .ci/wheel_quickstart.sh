#!/usr/bin/env bash
# The published-package check: build the sdist and the wheel, install the wheel ALONE into a
# fresh venv outside the checkout, then, offline (in a network namespace where we can make one):
#   1. the core install runs a default pipeline (langid, PII patterns, quality, dedup, GPT-2
#      tokens) on JSONL, and `validate` names the missing extra of a WARC config;
#   2. with the `all` extra, the README's quickstart runs on the generated example corpus.
# Nothing is imported from the checkout: the commands run in a temporary folder.
#   bash .ci/wheel_quickstart.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=${1:-$(mktemp -d /tmp/corpusforge-wheel.XXXXXX)}
mkdir -p "$WORK"
rm -rf dist
.venv/bin/python -m build --sdist --wheel --outdir dist . >"$WORK/build.log" 2>&1 \
  || { tail -30 "$WORK/build.log"; exit 1; }
WHEEL=$(ls "$REPO"/dist/corpusforge-*.whl)
echo "built: $(ls dist)"
python3 -m venv --clear "$WORK/venv"
PIP=("$WORK/venv/bin/python" -m pip install -q --disable-pip-version-check)
"${PIP[@]}" "$WHEEL"
CF=$WORK/venv/bin/corpusforge

# offline: a network namespace with only loopback (Ray talks to itself on 127.0.0.1) when we
# may make one (root, unshare, ip); elsewhere the hub libraries' offline switches only
offline() {
  if command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 \
    && unshare -n true 2>/dev/null; then
    unshare -n sh -c 'ip link set lo up && exec "$@"' sh "$@"
  else
    "$@"
  fi
}
export HF_HUB_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0
cp "$REPO/examples/quickstart.yaml" "$REPO/examples/make_example_corpus.py" \
  "$REPO/.ci/core_pipeline.yaml" "$WORK/"
cd "$WORK"
"$CF" --version
"$WORK/venv/bin/python" - <<'PY'
import gzip, json, random
from pathlib import Path
# a few hundred synthetic English and German documents, with e-mails and duplicates
rng = random.Random(0)
words = {"en": "the river runs past our old house and the children walk to school there".split(),
         "de": "der Fluss fliesst an unserem alten Haus vorbei und die Kinder gehen dort".split()}
Path("core_data").mkdir(exist_ok=True)
with gzip.open("core_data/docs.jsonl.gz", "wt") as f:
    for i in range(300):
        lang = "en" if i % 3 else "de"
        text = ". ".join(" ".join(rng.choices(words[lang], k=14)).capitalize() for _ in range(12))
        if i % 10 == 0:
            text += f" Write to user{i}@example.org."
        f.write(json.dumps({"text": text}) + "\n")
        if i % 25 == 0:
            f.write(json.dumps({"text": text}) + "\n")
PY
# 1. core only
offline "$CF" validate core_pipeline.yaml
offline "$CF" run core_pipeline.yaml --no-resume --quiet
"$WORK/venv/bin/python" -c "import fastwarc" 2>/dev/null && { echo "core pulled the warc extra"; exit 1; }
"$WORK/venv/bin/python" -c "import faker" 2>/dev/null && { echo "core pulled faker"; exit 1; }
# 2. the quickstart with every CPU extra
"${PIP[@]}" "${WHEEL}[all]"
"$WORK/venv/bin/python" make_example_corpus.py examples/data
offline "$CF" validate quickstart.yaml
offline "$CF" run quickstart.yaml --no-resume --quiet
test -s out/quickstart/report.html
"$CF" lineage out/quickstart --summary >/dev/null
echo "wheel quickstart: ok ($WORK)"

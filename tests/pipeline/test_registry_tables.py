"""The built-in tables in ``corpusforge.stages`` name every built-in, and lookups stay lazy."""

from __future__ import annotations

import json
import subprocess
import sys

from corpusforge import stages
from corpusforge.pipeline import registry


def test_stage_table_names_the_module_that_registers_each_stage() -> None:
    found = {
        name: cls.__module__
        for name, cls in registry.all_stages().items()
        if cls.__module__.startswith("corpusforge.stages.")
    }
    assert found == stages.STAGE_MODULES


def test_reader_and_sink_modules_register_all_builtins() -> None:
    def builtin(classes: dict) -> set[str]:  # tests register their own readers too
        return {c.__module__ for c in classes.values() if c.__module__.startswith("corpusforge.")}

    readers = builtin(registry.all_readers())
    sinks = builtin(registry.all_sinks())
    assert {m.rsplit(".", 1)[0] for m in readers} == set(stages.READER_MODULES)
    assert sinks == set(stages.SINK_MODULES)


def _modules_after(code: str) -> dict[str, bool]:
    probe = (
        "import json, sys\n"
        f"{code}\n"
        "print(json.dumps({m: m in sys.modules for m in "
        "['presidio_analyzer', 'datatrove', 'tokenizers', 'torch']}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_lookup_imports_only_the_stage_it_names() -> None:
    loaded = _modules_after(
        "from corpusforge.pipeline.registry import get_stage, get_reader\n"
        "get_stage('minhash'); get_reader('jsonl')"
    )
    assert loaded == {
        "presidio_analyzer": False,
        "datatrove": False,
        "tokenizers": False,
        "torch": False,
    }


def test_pii_and_quality_bring_spacy_up_without_torch() -> None:
    loaded = _modules_after(
        "from corpusforge.pipeline.registry import get_stage\n"
        "get_stage('pii')({}).ensure_setup(); get_stage('gopher_quality')"
    )
    assert loaded["presidio_analyzer"] and loaded["datatrove"]
    assert not loaded["torch"]

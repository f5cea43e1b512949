"""Config loading: safe YAML, validation errors naming key and line, JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import engine_helpers  # noqa: F401  (registers the test stages)
import pytest

from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.pipeline.config import config_json_schema, load_config
from corpusforge.pipeline.engine.plan import build_stages, split_phases

GOOD = """\
name: t
input:
  paths: [data/]
output:
  path: out/
stages:
  - length_filter
  - test_min_words: {min_words: 4}
  - name: up
    stage: test_upper
    resources: {concurrency: 1}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_three_ways_to_name_a_stage(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    planned = build_stages(cfg)
    assert [p.stage.instance_name for p in planned] == ["length_filter", "test_min_words", "up"]
    assert planned[1].stage.params.min_words == 4
    assert planned[2].resources.concurrency == 1
    assert split_phases(planned)[0].names == ["length_filter", "test_min_words", "up"]


def test_unknown_key_names_key_and_line(tmp_path: Path) -> None:
    text = GOOD.replace("  path: out/\n", "  path: out/\n  shard_size: 3\n")
    with pytest.raises(ConfigError, match=r"c.yaml:6: output.shard_size: Extra inputs"):
        load_config(write(tmp_path, text))


def test_wrong_type_names_key_and_line(tmp_path: Path) -> None:
    text = GOOD.replace("  path: out/\n", "  path: out/\n  shard_size_mb: lots\n")
    with pytest.raises(ConfigError, match=r"c.yaml:6: output.shard_size_mb"):
        load_config(write(tmp_path, text))


def test_bad_stage_param_names_stage_and_line(tmp_path: Path) -> None:
    text = GOOD.replace("{min_words: 4}", "{min_wordz: 4}")
    cfg = load_config(write(tmp_path, text))
    with pytest.raises(ConfigError, match=r"c.yaml:8: stages\[1\].*min_wordz"):
        build_stages(cfg)


def test_unknown_stage_names_line(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD.replace("- length_filter", "- lenght_filter")))
    with pytest.raises(ConfigError, match=r"c.yaml:7: stages\[0\].*unknown stage 'lenght_filter'"):
        build_stages(cfg)


@pytest.mark.parametrize("name", ["read", "write", "redact_rejected"])
def test_a_stage_cannot_take_the_name_of_an_engine_step(tmp_path: Path, name: str) -> None:
    """stage_stats keys the counters by name: a stage called "write" would be summed with
    the fragment writing."""
    cfg = load_config(write(tmp_path, GOOD.replace("name: up", f"name: {name}")))
    with pytest.raises(ConfigError, match=rf"c.yaml:9: stages\[2\].*{name}.*engine's own step"):
        build_stages(cfg)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"c.yaml:3: invalid YAML"):
        load_config(write(tmp_path, "name: t\ninput:\n\tpaths: [a]\n"))


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    text = GOOD.replace("name: t", "name: !!python/object/apply:os.system ['true']")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(write(tmp_path, text))


def test_missing_section_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"output: Field required"):
        load_config(write(tmp_path, "input: {paths: [a]}\n"))


def test_exported_json_schema_is_current() -> None:
    shipped = Path(__file__).parents[2] / "schemas" / "config.schema.json"
    assert json.loads(shipped.read_text()) == config_json_schema(), (
        "regenerate with: corpusforge validate --schema > schemas/config.schema.json"
    )

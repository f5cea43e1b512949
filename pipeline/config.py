"""The run configuration: YAML loaded safely, validated, errors that name the key and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from corpusforge.pipeline.api.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputConfig(_Strict):
    paths: list[str] = Field(
        description="Files, folders or globs; local paths or fsspec URLs (s3://, gs://, file://)."
    )
    format: str = Field("auto", description="Reader name, or 'auto' to choose by file ending.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Reader options: text_field, id_field, keep_fields, batch_rows, ...",
    )
    unit_size_mb: float | None = Field(
        128.0,
        ge=0,
        description="Target input size of a unit of work: larger Parquet files are cut by row "
        "groups, larger plain JSONL files by byte ranges at line starts (compressed files and "
        "other formats stay whole). 0 or null: one unit per file. Ids and outputs do not "
        "depend on it.",
    )

    @field_validator("paths", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class SinkConfig(_Strict):
    kind: str = Field(description="Registered sink name, e.g. 'megatron'.")
    path: str | None = Field(None, description="Folder under the output (default: the kind).")
    params: dict[str, Any] = Field(default_factory=dict)


class OutputConfig(_Strict):
    path: str = Field(description="Output folder (local path or fsspec URL).")
    shard_size_mb: float = Field(256.0, gt=0, description="Target size of a kept Parquet shard.")
    compression: str = Field("zstd", description="Parquet compression codec.")
    write_rejected: bool = Field(True, description="Write rejected documents with reasons.")
    rejected_text: Literal["redacted", "raw", "none"] = Field(
        "redacted",
        description="Text of rejected documents: redacted by the pipeline's PII stage (also "
        "those rejected before it), none, or raw (the original text).",
    )
    drop_columns: list[str] = Field(
        default_factory=list, description="Columns left out of the Parquet outputs."
    )
    sinks: list[SinkConfig] = Field(default_factory=list, description="Extra output formats.")
    report: bool = Field(True, description="Write OUT/report.html at the end of the run.")
    report_samples: bool = Field(
        True, description="Show a few rejected documents (truncated text) in the report."
    )


class StageConfig(_Strict):
    stage: str = Field(description="Registered stage name.")
    name: str | None = Field(None, description="Instance name (defaults to the stage name).")
    params: dict[str, Any] = Field(default_factory=dict)
    resources: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides: num_cpus, num_gpus, memory, batch_size, concurrency.",
    )

    @property
    def instance_name(self) -> str:
        return self.name or self.stage


class RayConfig(_Strict):
    address: str | None = Field(
        None, description="Ray cluster address; empty starts a local Ray inside the run."
    )
    num_cpus: int | None = Field(None, description="CPUs of the local Ray (default: all).")
    object_store_memory_mb: int | None = None
    progress: bool = Field(True, description="Show Ray Data progress bars.")


class RunConfig(_Strict):
    name: str = Field("corpusforge", description="Run name, recorded in lineage.")
    input: InputConfig
    output: OutputConfig
    stages: list[StageConfig] = Field(default_factory=list)
    ray: RayConfig = Field(default_factory=RayConfig)
    plugins: list[str] = Field(
        default_factory=list, description="Python modules to import (custom stages)."
    )
    _source_lines: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)
    _source_path: str = PrivateAttr("<config>")

    @field_validator("stages", mode="before")
    @classmethod
    def _normalize_stages(cls, v: Any) -> Any:
        if v is None:
            return []
        if not isinstance(v, list):
            return v
        return [_normalize_stage_entry(entry) for entry in v]


def _normalize_stage_entry(entry: Any) -> Any:
    """Accept ``- langid``, ``- langid: {params}`` and ``- {stage: langid, params: ...}``."""
    if isinstance(entry, str):
        return {"stage": entry}
    if isinstance(entry, dict) and "stage" not in entry and len(entry) == 1:
        ((name, params),) = entry.items()
        return {"stage": name, "params": params or {}}
    return entry


# --------------------------------------------------------------------------- YAML with lines


def _key_lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _key_lines(value_node, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _key_lines(item, (*path, i), out)


def _line_of(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    # stage entries are normalized before validation: `- langid: {...}` puts params one level up
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_config(data: Any, source: str = "<config>", lines: dict | None = None) -> RunConfig:
    """Validate a config mapping; errors name the key (and line when known)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping of keys (input, output, ...)")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = _line_of(lines or {}, loc)
        where = f"{source}:{line}" if line else source
        more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise ConfigError(
            f"{where}: {_format_loc(loc)}: {err['msg']}{more}",
            hint="see `corpusforge validate --schema` for every key",
        ) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Load and validate a YAML config file (``yaml.safe_load``: no arbitrary objects)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{line}: invalid YAML: {problem}") from None
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _key_lines(node, (), lines)
    data = data or {}
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
    cfg = parse_config(data, source=str(path), lines=lines)
    cfg._source_lines = lines
    cfg._source_path = str(path)
    return cfg


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    cur = data
    for key in keys[:-1]:
        cur = cur.setdefault(key, {})
    cur[keys[-1]] = value


def stage_location(cfg: RunConfig, index: int, *keys: str) -> str:
    """`file:line: stages[i].key` for errors found after parsing (unknown stage, bad params)."""
    lines = cfg._source_lines
    source = cfg._source_path
    loc = ("stages", index, *keys)
    line = _line_of(lines, loc)
    return f"{source}:{line}: {_format_loc(loc)}" if line else f"{source}: {_format_loc(loc)}"


def config_json_schema() -> dict[str, Any]:
    return RunConfig.model_json_schema()


def config_to_json(cfg: RunConfig) -> str:
    return json.dumps(cfg.model_dump(mode="json"), sort_keys=True)

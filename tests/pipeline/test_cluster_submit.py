"""The job package `corpusforge submit` ships: config rewrite, plugins, env, secret check.

Fast, no cluster (the end-to-end submit runs are in test_cluster.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.pipeline.backends.ray import submit


def write_config(folder: Path, **extra: object) -> Path:
    data = {
        "name": "t",
        "input": {"paths": ["data/in", "s3://bucket/crawl/*.jsonl.gz"]},
        "output": {"path": "out/t"},
        "stages": [{"length_filter": {"min_chars": 10}}],
        "ray": {"address": "ray://old:10001", "num_cpus": 2},
        **extra,
    }
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_job_config_resolves_local_paths_and_drops_local_ray_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = submit.job_config(write_config(tmp_path))
    assert data["input"]["paths"] == [
        str(tmp_path / "data/in"),
        "s3://bucket/crawl/*.jsonl.gz",
    ]
    assert data["output"]["path"] == str(tmp_path / "out/t")
    assert "address" not in data["ray"] and "num_cpus" not in data["ray"]
    over = submit.job_config(write_config(tmp_path), output="gs://b/o", inputs=["file:///x/y"])
    assert over["output"]["path"] == "gs://b/o"
    assert over["input"]["paths"] == ["/x/y"]


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({"storage": {"aws_secret_access_key": "abc"}}, "storage.aws_secret_access_key"),
        ({"storage": {"password": "hunter2"}}, "storage.password"),
        (
            {"stages": [{"near_dedup": {"dedup_against": ["s3://user:pw@host/b"]}}]},
            "near_dedup.dedup_against[0]",
        ),
        ({"notes": "AKIAABCDEFGHIJKLMNOP"}, "notes"),
    ],
)
def test_configs_with_plain_text_secrets_are_refused(
    tmp_path: Path, extra: dict, where: str
) -> None:
    with pytest.raises(ConfigError) as info:
        submit.check_no_secrets(extra)
    assert where in info.value.message
    # the message names the place, never the value
    for leaf in ("abc", "hunter2", "pw@", "AKIAABCDEFGHIJKLMNOP"):
        assert leaf not in info.value.message


def test_tokenizer_settings_are_not_secrets() -> None:
    cfg = {"stages": [{"tokenize": {"eos_token": "<|endoftext|>", "max_tokens": 4096}}]}
    assert submit.find_secrets(cfg) == []
    assert submit.find_secrets({"storage": {"password": ""}}) == []


def test_job_package_ships_config_plugins_and_named_env_vars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "mypkg").mkdir(parents=True)
    (project / "mypkg" / "__init__.py").write_text("", encoding="utf-8")
    (project / "one_stage.py").write_text("X = 1\n", encoding="utf-8")
    wheel = tmp_path / "corpusforge-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"not really a wheel")
    monkeypatch.chdir(project)
    cfg_path = write_config(project, plugins=["one_stage", "mypkg.stages", "yaml"])
    data = submit.job_config(cfg_path)
    pkg = tmp_path / "pkg"
    renv = submit.build_job_package(
        cfg_path,
        data,
        pkg,
        py_modules=[str(wheel)],
        env=["MY_TOKEN"],
        base_runtime_env={"pip": ["tqdm"]},
        environ={"MY_TOKEN": "s3cr3t", "OTHER": "x"},
    )
    assert renv["working_dir"] == str(pkg)
    assert sorted(p.name for p in pkg.iterdir()) == [submit.JOB_CONFIG, "one_stage.py"]
    assert yaml.safe_load((pkg / submit.JOB_CONFIG).read_text()) == data
    # a package goes as py_module; an installed module (yaml) is expected on the nodes
    assert renv["py_modules"] == [str(project / "mypkg"), str(wheel)]
    assert renv["env_vars"] == {"MY_TOKEN": "s3cr3t"}
    assert renv["pip"] == ["tqdm"]
    assert (
        "s3cr3t" not in submit.entrypoint()
        and "s3cr3t" not in (pkg / submit.JOB_CONFIG).read_text()
    )


def test_env_values_and_missing_variables_are_refused(tmp_path: Path) -> None:
    cfg_path = write_config(tmp_path)
    data = submit.job_config(cfg_path)
    with pytest.raises(ConfigError, match="give only the variable's name") as info:
        submit.build_job_package(cfg_path, data, tmp_path / "p", env=["K=v4lue"], environ={})
    assert "v4lue" not in info.value.message
    with pytest.raises(ConfigError, match="not set"):
        submit.build_job_package(cfg_path, data, tmp_path / "p", env=["NOPE"], environ={})
    with pytest.raises(ConfigError, match="working_dir"):
        submit.build_job_package(
            cfg_path, data, tmp_path / "p", base_runtime_env={"working_dir": "."}
        )


def test_runtime_env_option_takes_files_or_json_and_refuses_env_vars(tmp_path: Path) -> None:
    f = tmp_path / "renv.yaml"
    f.write_text("pip: [tqdm]\nconda: null\n", encoding="utf-8")
    assert submit.load_runtime_env(str(f)) == {"pip": ["tqdm"], "conda": None}
    assert submit.load_runtime_env('{"py_modules": ["a"]}') == {"py_modules": ["a"]}
    with pytest.raises(ConfigError, match="env_vars"):
        submit.load_runtime_env('{"env_vars": {"A": "b"}}')
    with pytest.raises(ConfigError):
        submit.load_runtime_env("[1, 2]")


def test_missing_plugin_module_is_a_config_error(tmp_path: Path) -> None:
    cfg_path = write_config(tmp_path, plugins=["no_such_module_anywhere"])
    data = submit.job_config(cfg_path)
    with pytest.raises(ConfigError, match="no_such_module_anywhere"):
        submit.build_job_package(cfg_path, data, tmp_path / "p")


def test_entrypoint_runs_the_shipped_config() -> None:
    assert submit.entrypoint() == (
        f"python -m corpusforge.cli.main run {submit.JOB_CONFIG} --quiet"
    )
    assert submit.entrypoint(resume=False).endswith("--no-resume")


def test_lineage_of_a_remote_output_is_staged_locally_and_uploaded(tmp_path: Path) -> None:
    """An fsspec output (here the in-process memory:// filesystem) gets lineage.duckdb by
    upload; a later run starts from the uploaded file, so the run history carries on."""
    import duckdb
    import fsspec

    from corpusforge.pipeline.lineage import store as lineage

    out = f"memory://cf-test-{tmp_path.name}/out"
    first = lineage.local_lineage_dir(out)
    assert first != out and not (Path(first) / lineage.LINEAGE_FILE).exists()
    con = duckdb.connect(str(Path(first) / lineage.LINEAGE_FILE))
    con.execute("CREATE TABLE runs (run_id VARCHAR)")
    con.execute("INSERT INTO runs VALUES ('r1')")
    con.close()
    (Path(first) / "report.html").write_text("<html></html>", encoding="utf-8")
    assert lineage.upload_lineage(first, out) == [lineage.LINEAGE_FILE, "report.html"]
    assert not Path(first).exists()
    fs = fsspec.filesystem("memory")
    assert fs.exists(f"{out}/report.html")
    second = lineage.local_lineage_dir(out)
    con = duckdb.connect(str(Path(second) / lineage.LINEAGE_FILE), read_only=True)
    assert con.execute("SELECT run_id FROM runs").fetchall() == [("r1",)]
    con.close()
    shutil.rmtree(second)
    # a local output is its own lineage folder: nothing staged, nothing uploaded
    assert lineage.local_lineage_dir(str(tmp_path)) == str(tmp_path)
    assert lineage.upload_lineage(str(tmp_path), str(tmp_path)) == []
    fs.rm(out.removeprefix("memory://").split("/")[0], recursive=True)

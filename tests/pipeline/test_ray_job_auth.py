"""``submit`` and ``jobs`` against a Ray head with token authentication: the token is sent
from where Ray keeps it, and a missing or wrong one is one line naming what to set."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from ray.exceptions import AuthenticationError

import tests.cluster_helpers as cluster_helpers
from corpusforge.pipeline.api.errors import ConfigError
from corpusforge.pipeline.backends.ray import job_auth, submit
from tests.cluster_helpers import BIN, LocalCluster, free_port

SECRET = "cf-test-token-0123456789abcdef"


def test_token_comes_from_the_env_then_the_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "tok"
    token_file.write_text(SECRET + "\n")
    assert job_auth.auth_headers({"RAY_AUTH_TOKEN": SECRET}) == {
        "Authorization": f"Bearer {SECRET}"
    }
    env = {"RAY_AUTH_TOKEN_PATH": str(token_file)}
    assert job_auth.auth_headers(env) == {"Authorization": f"Bearer {SECRET}"}
    assert job_auth.auth_headers({**env, "RAY_AUTH_MODE": "disabled"}) == {}
    assert job_auth.auth_headers({"RAY_AUTH_TOKEN_PATH": str(tmp_path / "none")}) == {}


def test_auth_errors_become_one_line_naming_what_to_set(tmp_path: Path) -> None:
    missing = AuthenticationError("Authentication required: Unauthorized\n\nno token found")
    none_here = {"RAY_AUTH_TOKEN_PATH": str(tmp_path / "none")}
    err = job_auth.auth_failure(missing, "http://h:8265", none_here)
    assert err is not None and "requires a token and none was found" in err.message
    assert "RAY_AUTH_TOKEN" in err.hint and "\n" not in err.message + err.hint

    wrong = AuthenticationError("Authentication failed: Forbidden\n\ninvalid token")
    err = job_auth.auth_failure(wrong, "http://h:8265", {"RAY_AUTH_TOKEN": SECRET})
    assert err is not None and "refused the token from RAY_AUTH_TOKEN" in err.message
    assert SECRET not in err.message + err.hint

    off = {"RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN": SECRET}
    err = job_auth.auth_failure(missing, None, off)
    assert err is not None and "RAY_AUTH_MODE=disabled" in err.message
    assert job_auth.auth_failure(ValueError("x"), None, {}) is None


def test_the_token_is_never_shipped_with_a_job(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("input:\n  paths: [in]\noutput:\n  path: out\nstages: []\n")
    with pytest.raises(ConfigError, match="token is not shipped"):
        submit.build_job_package(
            cfg, {}, tmp_path / "pkg", env=["RAY_AUTH_TOKEN"], environ={"RAY_AUTH_TOKEN": "x"}
        )


def _jobs_list(address: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "corpusforge.cli.main", "jobs", "list", "--address", address],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_jobs_list_on_a_head_with_token_auth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head_env = {**cluster_helpers.cluster_env(), "RAY_AUTH_MODE": "token"}
    head_env["RAY_AUTH_TOKEN"] = SECRET
    monkeypatch.setattr(cluster_helpers, "cluster_env", lambda: head_env)
    head = LocalCluster()
    head.gcs_port, head.dashboard_port = free_port(), free_port()
    try:
        head._start(
            [
                "--head",
                f"--port={head.gcs_port}",
                f"--dashboard-port={head.dashboard_port}",
                "--dashboard-host=127.0.0.1",
                "--include-dashboard=true",
                f"--ray-client-server-port={free_port()}",
            ]
        )
        _wait_for_dashboard(head.address)
        # the client's shell: no RAY_AUTH_MODE, no ~/.ray token of this machine's user
        client_env = {k: v for k, v in head_env.items() if not k.startswith("RAY_AUTH")}
        client_env["HOME"] = str(tmp_path)
        client_env["PATH"] = f"{BIN}{os.pathsep}{client_env.get('PATH', '')}"

        ok = _jobs_list(head.address, {**client_env, "RAY_AUTH_TOKEN": SECRET})
        assert ok.returncode == 0, ok.stderr[-2000:]

        for env, words in (
            (client_env, "requires a token and none was found"),
            ({**client_env, "RAY_AUTH_TOKEN": "wrong"}, "refused the token from RAY_AUTH_TOKEN"),
        ):
            failed = _jobs_list(head.address, env)
            assert failed.returncode == 1
            lines = [line for line in failed.stderr.splitlines() if line.strip()]
            assert words in lines[0] and "RAY_AUTH_TOKEN" in lines[-1], failed.stderr
            assert len(lines) <= 2 and SECRET not in failed.stderr + failed.stdout
    finally:
        head.stop()


def _wait_for_dashboard(address: str, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if requests.get(f"{address}/api/version", timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError("the head's dashboard did not come up")

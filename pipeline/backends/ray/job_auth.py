"""Ray token authentication for the Job Submission API (``submit`` and ``jobs``).

A head started with ``RAY_AUTH_MODE=token`` refuses dashboard requests without the cluster's
token. Ray's own client sends it only when ``RAY_AUTH_MODE=token`` is set in the submitting
shell too; here the token is sent whenever one is where Ray looks for it (``RAY_AUTH_TOKEN``,
the file named by ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``), unless
``RAY_AUTH_MODE=disabled``. It goes in the request header only: never in the job's config,
runtime_env or any message.
"""

from __future__ import annotations

import os
from pathlib import Path

from corpusforge.pipeline.api.errors import CorpusforgeError

MODE_ENV = "RAY_AUTH_MODE"
TOKEN_ENV = "RAY_AUTH_TOKEN"
TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
HINT = (
    f"set {TOKEN_ENV} to the cluster's token, or {TOKEN_PATH_ENV} to a file holding it "
    "(default ~/.ray/auth_token; on the head: ray get-auth-token)"
)


def find_token(environ: dict[str, str] | None = None) -> tuple[str | None, str]:
    """The token Ray would use and where it came from (for messages: never the token)."""
    env = os.environ if environ is None else environ
    if env.get(TOKEN_ENV, "").strip():
        return env[TOKEN_ENV].strip(), TOKEN_ENV
    path = Path(env.get(TOKEN_PATH_ENV) or Path.home() / ".ray" / "auth_token").expanduser()
    where = f"{TOKEN_PATH_ENV} ({path})" if env.get(TOKEN_PATH_ENV) else str(path)
    try:
        token = path.read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None, where
    return token or None, where


def auth_headers(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The request header that carries the token ({} with none, or auth turned off)."""
    env = os.environ if environ is None else environ
    if env.get(MODE_ENV, "").strip().lower() == "disabled":
        return {}
    token, _ = find_token(env)
    return {"Authorization": f"Bearer {token}"} if token else {}


def auth_failure(
    exc: BaseException, address: str | None, environ: dict[str, str] | None = None
) -> CorpusforgeError | None:
    """Ray's authentication error as one line naming what to set (None for other errors)."""
    from ray.exceptions import AuthenticationError

    if not isinstance(exc, AuthenticationError):
        return None
    head = address or "$RAY_ADDRESS"
    env = os.environ if environ is None else environ
    token, where = find_token(env)
    if env.get(MODE_ENV, "").strip().lower() == "disabled":
        return CorpusforgeError(
            f"the Ray head at {head} requires a token and {MODE_ENV}=disabled is set here",
            hint=f"unset {MODE_ENV}; then " + HINT,
        )
    if token is None or str(getattr(exc, "message", exc)).startswith("Authentication required"):
        return CorpusforgeError(
            f"the Ray head at {head} requires a token and none was found", hint=HINT
        )
    return CorpusforgeError(f"the Ray head at {head} refused the token from {where}", hint=HINT)

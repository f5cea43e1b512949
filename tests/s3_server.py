"""A local S3 server (moto) standing in for object storage in tests.

``s3_server()`` starts moto's threaded server on a free port of 127.0.0.1 and yields the
environment a corpusforge process needs to reach it (credentials and the endpoint, passed to
fsspec by ``FSSPEC_S3_ENDPOINT_URL``) plus an ``s3fs`` filesystem to look into the bucket.
"""

from __future__ import annotations

import logging
import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class S3Server:
    endpoint: str
    env: dict[str, str]
    fs: Any  # s3fs.S3FileSystem


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def s3_server(bucket: str) -> Iterator[S3Server]:
    s3fs = pytest.importorskip("s3fs")
    server_mod = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    port = _free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FSSPEC_S3_ENDPOINT_URL": endpoint,
    }
    try:
        # moto keeps its buckets in this process across servers: start from an empty store
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        fs = s3fs.S3FileSystem(
            key="test-key", secret="test-secret", endpoint_url=endpoint, skip_instance_cache=True
        )
        fs.mkdir(bucket)
        yield S3Server(endpoint, env, fs)
    finally:
        server.stop()


@contextmanager
def s3_in_process(server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point this process's fsspec at ``server`` (env credentials, fsspec config endpoint)."""
    import fsspec

    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": server.endpoint})
    fsspec.AbstractFileSystem.clear_instance_cache()
    try:
        yield
    finally:
        fsspec.AbstractFileSystem.clear_instance_cache()

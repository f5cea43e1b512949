"""Filesystem helpers over fsspec: input expansion, atomic writes, checksums."""

from __future__ import annotations

import os
import posixpath
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from fsspec.core import url_to_fs

from corpusforge.pipeline.api.errors import ConfigError, InputError

_GLOB_CHARS = set("*?[")


def get_fs(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem of ``url`` and the path inside it (local paths made absolute)."""
    try:
        fs, path = url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise ConfigError(
            f"cannot open {url!r}: {exc}", hint="install the fsspec backend"
        ) from None
    if _is_local(fs):
        path = os.path.abspath(path)
    return fs, path


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def is_remote(url: str) -> bool:
    """True for fsspec URLs that are not the local filesystem (``s3://``, ``gs://`` ...)."""
    return "://" in url and not url.startswith(("file://", "local://"))


def to_url(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """A string that opens ``path`` again from any worker (a local path stays a plain path)."""
    return path if _is_local(fs) else fs.unstrip_protocol(path)


def join(base: str, *parts: str) -> str:
    if "://" in base:
        return posixpath.join(base, *parts)
    return os.path.join(base, *parts)


def expand_inputs(patterns: Iterable[str], accept: Iterable[str] | None = None) -> list[str]:
    """Expand files, folders (recursively) and globs to a sorted, de-duplicated list of URLs.

    ``accept`` restricts files found inside folders to these endings (explicit files and
    glob matches are always taken).
    """
    endings = tuple(accept) if accept else None
    found: set[str] = set()
    for pattern in patterns:
        fs, path = get_fs(pattern)
        if any(c in path for c in _GLOB_CHARS):
            matches = [m for m in fs.glob(path) if fs.isfile(m)]
            if not matches:
                raise InputError(f"input pattern matched no files: {pattern}")
            found.update(to_url(fs, m) for m in matches)
        elif fs.isdir(path):
            files = [
                f
                for f in fs.find(path)
                if not posixpath.basename(f).startswith((".", "_"))
                and (endings is None or f.lower().endswith(endings))
            ]
            if not files:
                raise InputError(f"input folder has no readable files: {pattern}")
            found.update(to_url(fs, f) for f in files)
        elif fs.isfile(path):
            found.add(to_url(fs, path))
        else:
            raise InputError(f"input not found: {pattern}")
    return sorted(found)


def display_name(url: str) -> str:
    """A file's base name for messages (no bucket, no folders: they may name people)."""
    return posixpath.basename(url.rstrip("/").split("://", 1)[-1]) or url


def unit_key(path: str) -> str:
    """A short, filesystem-safe key for an input file: names its fragments and journal entry."""
    stem = posixpath.basename(path.rstrip("/")).split(".")[0][:40] or "unit"
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)
    return f"{safe}-{xxhash.xxh64_hexdigest(path.encode())[:10]}"


def file_checksum(url: str) -> tuple[str, int]:
    """xxh3-64 of the raw bytes of a file and its size (streamed; files may be large)."""
    h = xxhash.xxh3_64()
    size = 0
    with fsspec.open(url, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


@contextmanager
def atomic_write(url: str) -> Iterator[BinaryIO]:
    """Open ``url`` for writing under a temporary name beside it; rename on success.

    Readers never see half a file, and a crash leaves only a ``.tmp-*`` file that the next
    write replaces. Works on local paths and on any fsspec URL (``s3://``, ``gs://``, ...).
    This is the one way corpusforge writes an output file.
    """
    fs, path = get_fs(url)
    parent = os.path.dirname(path) if _is_local(fs) else posixpath.dirname(path)
    fs.makedirs(parent, exist_ok=True)
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with fs.open(tmp, "wb") as f:
            yield f
    except BaseException:
        if fs.exists(tmp):
            fs.rm(tmp)
        raise
    if _is_local(fs):
        os.replace(tmp, path)
    else:
        fs.mv(tmp, path)


def atomic_write_bytes(url: str, data: bytes) -> None:
    with atomic_write(url) as f:
        f.write(data)


def upload_file(local: str, url: str) -> None:
    """Copy a local file to ``url`` (streamed), under a temporary name then renamed."""
    fs, path = get_fs(url)
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    fs.put_file(local, tmp)
    fs.mv(tmp, path)


def download_file(url: str, local: str) -> None:
    fs, path = get_fs(url)
    fs.get_file(path, local)


def atomic_write_parquet(url: str, table: pa.Table, compression: str = "zstd") -> int:
    """Write ``table`` as one Parquet file atomically; returns the file size in bytes."""
    with atomic_write(url) as f:
        pq.write_table(table, f, compression=compression)
    fs, path = get_fs(url)
    return int(fs.size(path))


def remove(url: str, recursive: bool = False) -> None:
    fs, path = get_fs(url)
    if fs.exists(path):
        fs.rm(path, recursive=recursive)


def listdir(url: str, suffix: str = "") -> list[str]:
    """Sorted URLs of the files directly inside ``url`` ending with ``suffix``."""
    fs, path = get_fs(url)
    if not fs.exists(path):
        return []
    return sorted(
        to_url(fs, p) for p in fs.ls(path, detail=False) if p.endswith(suffix) and fs.isfile(p)
    )


def find(url: str, suffix: str = "") -> list[str]:
    """Sorted URLs of every file under ``url`` (recursively) ending with ``suffix``."""
    fs, path = get_fs(url)
    if not fs.isdir(path):
        return []
    return sorted(to_url(fs, p) for p in fs.find(path) if p.endswith(suffix))


def isdir(url: str) -> bool:
    fs, path = get_fs(url)
    return bool(fs.isdir(path))


def relative(url: str, root: str) -> str:
    """``url`` relative to the folder ``root`` (both as this module returns them), with /."""
    rel = url[len(root.rstrip("/")) :].lstrip("/")
    return rel.replace(os.sep, "/")


@contextmanager
def local_copy(url: str) -> Iterator[str]:
    """A local path holding ``url``: the path itself, or a temporary download of it."""
    if not is_remote(url):
        yield get_fs(url)[1]
        return
    with tempfile.TemporaryDirectory(prefix="corpusforge-") as tmp:
        local = os.path.join(tmp, posixpath.basename(url.rstrip("/")) or "file")
        download_file(url, local)
        yield local


def read_parquet(url: str) -> pa.Table:
    """One Parquet file from a local path or any fsspec URL."""
    fs, path = get_fs(url)
    with fs.open(path, "rb") as f:
        return pq.read_table(f)


def read_bytes(url: str) -> bytes:
    fs, path = get_fs(url)
    with fs.open(path, "rb") as f:
        return f.read()


def exists(url: str) -> bool:
    fs, path = get_fs(url)
    return bool(fs.exists(path))


def makedirs(url: str) -> None:
    fs, path = get_fs(url)
    fs.makedirs(path, exist_ok=True)

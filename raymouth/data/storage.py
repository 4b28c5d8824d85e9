"""Dataset URIs (a local folder or ``s3://bucket/prefix``) as one pyarrow filesystem API.

S3 goes through s3fs (measured faster than pyarrow's own S3 client for Parquet reads here),
wrapped as a pyarrow filesystem so Ray Data, pyarrow.dataset and our own code share it.
Endpoint and credentials come from config or the standard AWS variables.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import pyarrow.fs as pafs

from raymouth.config import StorageConfig
from raymouth.errors import UserError

T = TypeVar("T")


class StorageError(UserError, RuntimeError):
    """Storage is missing, unreachable or not writable; the message is one line."""


class StorageFailure(StorageError):
    """Storage that failed mid-run and kept failing after its retries: not a bug and not bad input,
    so its own exit status; the finished work is kept and a re-run resumes."""

    exit_code = 3


NOT_TRANSIENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def _transient() -> tuple[type[BaseException], ...]:
    """Errors worth another try: the OS's (disk full, connection reset) and botocore's own
    (an endpoint that cannot be reached is not an OSError there)."""
    try:
        from botocore.exceptions import BotoCoreError
    except ImportError:
        return (OSError,)
    return (OSError, BotoCoreError)


def retrying(what: str, action: Callable[[], T], cfg: StorageConfig, sleep: Callable[[float], None] = time.sleep) -> T:
    """``action()``, tried again after an ``OSError`` (an endpoint that drops, a full disk) up to
    ``cfg.retries`` times with doubling waits; a missing path or bucket is not retried."""
    for attempt in range(cfg.retries + 1):
        try:
            return action()
        except NOT_TRANSIENT as exc:
            raise StorageFailure(f"{what}: {_one_line(exc)}; re-run to resume once it is fixed") from None
        except _transient() as exc:
            if attempt == cfg.retries:
                raise StorageFailure(f"{what}: failed after {attempt + 1} attempts ({_one_line(exc)}); re-run to resume") from None
            sleep(cfg.retry_wait_s * 2**attempt)
    raise AssertionError("unreachable")


def file_sha256(path: str | Path) -> str:
    """sha256 (hex) of a local file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Location:
    """A resolved URI: the filesystem, the path inside it, and the URI as the user wrote it."""

    fs: pafs.FileSystem
    path: str
    uri: str

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    def join(self, *parts: str) -> "Location":
        path = posixpath.join(self.path, *parts)
        uri = posixpath.join(self.uri, *parts) if self.is_s3 else str(Path(self.path, *parts))
        return Location(self.fs, path, uri)


def is_s3(uri: str) -> bool:
    return str(uri).startswith("s3://")


def s3_options(cfg: StorageConfig | None = None) -> dict:
    """s3fs keyword arguments from config, falling back to the AWS environment variables."""
    cfg = cfg or StorageConfig()
    endpoint = cfg.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = cfg.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    client_kwargs: dict = {"region_name": region}
    if endpoint:
        client_kwargs["endpoint_url"] = endpoint
    opts: dict = {
        "client_kwargs": client_kwargs,
        "config_kwargs": {
            "connect_timeout": cfg.connect_timeout_s,
            "read_timeout": 60,
            "retries": {"max_attempts": 3, "mode": "standard"},
        },
        # Listings must never be stale: resume decides what is finished from them.
        "use_listings_cache": False,
        "skip_instance_cache": True,
    }
    if cfg.access_key_id:
        opts["key"] = cfg.access_key_id
    if cfg.secret_access_key:
        opts["secret"] = cfg.secret_access_key
    if cfg.session_token:
        opts["token"] = cfg.session_token
    return opts


def for_workers(cfg: StorageConfig) -> StorageConfig:
    """The storage config with the driver's AWS variables filled in, for Ray workers to carry.

    Workers on other nodes do not share the driver's environment, so the endpoint, region and any
    credentials the driver found in its environment travel with the config (and so in task and
    actor arguments). With an instance profile or role there are no keys to carry: boto finds
    them on every node by itself.
    """
    env = os.environ.get
    return dataclasses.replace(
        cfg,
        endpoint_url=cfg.endpoint_url or env("AWS_ENDPOINT_URL_S3") or env("AWS_ENDPOINT_URL") or "",
        region=cfg.region or env("AWS_REGION") or env("AWS_DEFAULT_REGION") or "",
        access_key_id=cfg.access_key_id or env("AWS_ACCESS_KEY_ID") or "",
        secret_access_key=cfg.secret_access_key or env("AWS_SECRET_ACCESS_KEY") or "",
        session_token=cfg.session_token or env("AWS_SESSION_TOKEN") or "",
    )


def s3fs_filesystem(cfg: StorageConfig | None = None):
    import s3fs

    return s3fs.S3FileSystem(**s3_options(cfg))


def resolve(uri: str | Path, cfg: StorageConfig | None = None) -> Location:
    """Turn a URI into a Location; local paths become absolute."""
    uri = str(uri)
    if is_s3(uri):
        path = uri[len("s3://") :].rstrip("/")
        if not path:
            raise StorageError(f"{uri}: an S3 URI needs a bucket, e.g. s3://bucket/prefix")
        fs = pafs.PyFileSystem(pafs.FSSpecHandler(s3fs_filesystem(cfg)))
        return Location(fs, path, "s3://" + path)
    if "://" in uri:
        raise StorageError(f"{uri}: unsupported URI scheme (use a local path or s3://bucket/prefix)")
    path = str(Path(uri).expanduser().resolve())
    return Location(pafs.LocalFileSystem(), path, path)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip(": ")


def _bucket_check(loc: Location) -> None:
    """For S3, make sure the endpoint answers and the bucket exists, with a clear line if not."""
    bucket = loc.path.split("/", 1)[0]
    try:
        info = loc.fs.get_file_info(bucket)
    except Exception as exc:  # botocore/aiohttp errors of many kinds
        raise StorageError(f"{loc.uri}: cannot reach S3 bucket '{bucket}' ({_one_line(exc)})") from None
    if info.type == pafs.FileType.NotFound:
        raise StorageError(f"{loc.uri}: S3 bucket '{bucket}' does not exist or is not accessible")


def check_readable(uri: str | Path, cfg: StorageConfig | None = None) -> Location:
    """Fail fast, before any cluster work, when the input location is missing or unreachable."""
    loc = resolve(uri, cfg)
    if loc.is_s3:
        _bucket_check(loc)
    try:
        info = loc.fs.get_file_info(loc.path)
    except Exception as exc:
        raise StorageError(f"{loc.uri}: cannot read ({_one_line(exc)})") from None
    if info.type == pafs.FileType.NotFound:
        raise StorageError(f"{loc.uri}: no such file or folder")
    return loc


def check_writable(uri: str | Path, cfg: StorageConfig | None = None) -> Location:
    """Fail fast when the output location cannot be written: create it, write and delete a probe."""
    loc = resolve(uri, cfg)
    if loc.is_s3:
        _bucket_check(loc)
    probe = loc.join(f".raymouth-write-probe-{uuid.uuid4().hex}")
    try:
        make_dirs(loc.fs, loc.path)
        with loc.fs.open_output_stream(probe.path) as out:
            out.write(b"ok")
        loc.fs.delete_file(probe.path)
    except Exception as exc:
        raise StorageError(f"{loc.uri}: not writable ({_one_line(exc)})") from None
    return loc


def make_dirs(fs: pafs.FileSystem, path: str) -> None:
    """Local folders for ``path``; nothing on S3, which has no folders: there s3fs's ``makedirs``
    would create a missing *bucket*, and a job must never create buckets (a deleted output bucket
    is an error, not something to re-create holding part of a run)."""
    if not isinstance(fs, pafs.PyFileSystem):
        fs.create_dir(path, recursive=True)


def exists(loc: Location) -> bool:
    return loc.fs.get_file_info(loc.path).type != pafs.FileType.NotFound


def read_bytes(loc: Location) -> bytes:
    with loc.fs.open_input_stream(loc.path) as f:
        return f.read()


def write_bytes(loc: Location, data: bytes) -> None:
    """Write a whole object; on local disk via a temporary name and rename, so readers never see half."""
    parent = posixpath.dirname(loc.path)
    if parent:
        make_dirs(loc.fs, parent)
    if loc.is_s3:  # S3 PUTs are atomic already
        with loc.fs.open_output_stream(loc.path) as out:
            out.write(data)
        return
    tmp = temp_path(loc.path)
    with loc.fs.open_output_stream(tmp) as out:
        out.write(data)
    loc.fs.move(tmp, loc.path)


def temp_path(path: str) -> str:
    """Where to write ``path`` before renaming it into place: beside it, under a hidden name
    (``.name.tmp-<random>``), which pyarrow and Ray Data readers of the folder skip."""
    parent, name = posixpath.split(path)
    return posixpath.join(parent, f".{name}.tmp-{uuid.uuid4().hex}")


def list_files(loc: Location, suffix: str = "") -> list[str]:
    """Paths of files under a location (recursive), sorted; empty when it does not exist."""
    if not exists(loc):
        return []
    try:
        infos = loc.fs.get_file_info(pafs.FileSelector(loc.path, recursive=True))
    except PermissionError as exc:  # a sub-folder without read permission: one line, not a traceback
        raise StorageError(f"{loc.uri}: cannot list it ({_one_line(exc)})") from None
    return sorted(i.path for i in infos if i.type == pafs.FileType.File and i.path.endswith(suffix))


def delete_dir(loc: Location) -> None:
    if exists(loc):
        loc.fs.delete_dir(loc.path)

"""Where an archive lives: a local directory or ``s3://bucket/prefix`` (the store seam).

    store = open_store("s3://bucket/desk")        # or a path; None: DATA/archive (root_store)
    store.read_bytes("manifest.json")             # None when absent
    store.put_file(local, "raw/date=D/part-...parquet", size=n, blake2b=h)   # retried, verified
    store.shard("a")                              # the shard's own store: ROOT/shard=a/
    store.attach(con)                             # DuckDB reads store.uri(rel) from then on

Both stores hold the same relative layout (``query.layout``); what differs is how bytes get
there. A local store writes a temp file and renames it (readers see old or new). An S3
store puts each object whole (S3 makes a PUT visible all at once); ``put_file`` retries a
transient failure with bounded backoff (logged without credentials) and then checks the
object (its size, then its bytes read back against the digest the manifest records).
pyarrow reads and writes through ``store.fs`` (``LocalFileSystem`` or ``S3FileSystem``);
DuckDB reads S3 through its ``httpfs`` extension, loaded from the
``duckdb_extension_httpfs`` wheel (never ``INSTALL``: no network is assumed), with a
``CREATE SECRET`` of the same endpoint and keys.

S3 settings come from the standard environment: ``AWS_ENDPOINT_URL`` (``http://host:port``
for a local server; unset for AWS), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_REGION`` (default ``us-east-1``); else the AWS shared files
(``AWS_SHARED_CREDENTIALS_FILE`` or ``~/.aws/credentials``, ``AWS_CONFIG_FILE`` or
``~/.aws/config``, profile ``AWS_PROFILE`` or ``default``). Addressing is path-style
(``endpoint/bucket/key``). Keys never appear in a log line, an error or a ``repr``.

A missing bucket or refused credentials are ``ArchiveError``s raised by ``check()``,
which compaction calls before it writes or prunes anything.
"""

from __future__ import annotations

import configparser
import glob
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from .errors import ArchiveError, UsageError
from .layout import ARCHIVE_DIR, MANIFEST, write_atomic

log = logging.getLogger(__name__)

S3 = "s3://"
SHARD_DIR = "shard="
DEFAULT_REGION = "us-east-1"
UPLOAD_ATTEMPTS = 6  # one try and five retries: 0.5 + 1 + 2 + 4 + 8 s of backoff at most
BACKOFF_S = 0.5
BACKOFF_MAX_S = 8.0
# AWS error codes of refused keys, and all those no retry can mend (said at once, as an ArchiveError).
_DENIED = ("ACCESS_DENIED", "AccessDenied", "InvalidAccessKeyId", "INVALID_ACCESS_KEY_ID",
           "SignatureDoesNotMatch", "SIGNATURE_DOES_NOT_MATCH")
_FATAL = (*_DENIED, "NO_SUCH_BUCKET", "NoSuchBucket")


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def is_remote(url: str | os.PathLike[str] | None) -> bool:
    return isinstance(url, str) and url.startswith(S3)


# --- settings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Settings:
    """Endpoint, region and keys of an S3 service (the keys are kept out of ``repr``)."""

    endpoint: str | None  # scheme://host[:port], None for AWS itself
    region: str = DEFAULT_REGION
    access_key: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)

    @property
    def scheme(self) -> str:
        return urlsplit(self.endpoint).scheme if self.endpoint else "https"

    @property
    def host(self) -> str:
        """``host:port`` of the endpoint (AWS's regional one without an endpoint)."""
        if self.endpoint:
            return urlsplit(self.endpoint).netloc
        return f"s3.{self.region}.amazonaws.com"


def _shared_files(env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(credentials, config) sections of the profile in the AWS shared files ({} if absent)."""
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    home = Path(env.get("HOME") or Path.home())
    creds_path = Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials")
    config_path = Path(env.get("AWS_CONFIG_FILE") or home / ".aws" / "config")

    def section(path: Path, name: str) -> dict[str, str]:
        cp = configparser.RawConfigParser()
        try:
            cp.read(path, encoding="utf-8")
        except (OSError, configparser.Error) as exc:
            raise ArchiveError(f"cannot read {path}: {type(exc).__name__}") from None
        return dict(cp[name]) if cp.has_section(name) else {}

    config_name = profile if profile == "default" else f"profile {profile}"
    return section(creds_path, profile), section(config_path, config_name)


def s3_settings(env: Mapping[str, str] | None = None) -> S3Settings:
    """Settings from the environment, else the AWS shared files (see the module docstring).

    Raises ``ArchiveError`` when no access key is found or the endpoint is no URL.
    """
    env = os.environ if env is None else env
    creds, config = _shared_files(env)
    key = env.get("AWS_ACCESS_KEY_ID") or creds.get("aws_access_key_id", "")
    secret = env.get("AWS_SECRET_ACCESS_KEY") or creds.get("aws_secret_access_key", "")
    token = env.get("AWS_SESSION_TOKEN") or creds.get("aws_session_token", "")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or config.get("region") or DEFAULT_REGION
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or config.get("endpoint_url")
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ArchiveError(f"AWS_ENDPOINT_URL must be http(s)://host[:port], not {endpoint!r}")
        endpoint = f"{parts.scheme}://{parts.netloc}"
    if not key or not secret:
        raise ArchiveError("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                           "(or a profile in ~/.aws/credentials)")
    return S3Settings(endpoint or None, region, key, secret, token)


# --- stores ------------------------------------------------------------------------------


class ArchiveStore:
    """An archive's files under one root: relative paths in, bytes out (see the module docstring)."""

    remote = False

    def __init__(self, fs: pafs.FileSystem, base: str, url: str) -> None:
        self.fs = fs
        self.base = base.rstrip("/")
        self.url = url.rstrip("/")  # as said to people: a path or s3://bucket/prefix

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.url == self.url  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self.url)

    # -- names ----------------------------------------------------------------------

    def _child(self, rel: str) -> ArchiveStore:
        raise NotImplementedError

    def shard(self, name: str) -> ArchiveStore:
        """The store of shard ``name`` (``ROOT/shard=NAME``); this store for ``""``."""
        return self._child(f"{SHARD_DIR}{name}") if name else self

    def sub(self, rel: str) -> ArchiveStore:
        """The store rooted at ``rel`` under this one (a table of its own, say)."""
        return self._child(rel)

    def path(self, rel: str) -> str:
        """``rel`` as a path of ``fs``."""
        return f"{self.base}/{rel}" if rel else self.base

    def uri(self, rel: str) -> str:
        """``rel`` as DuckDB reads it (a local path, or ``s3://bucket/key``)."""
        return self.path(rel)

    def where(self, rel: str) -> str:
        """``rel`` said to people."""
        return f"{self.url}/{rel}"

    # -- reading --------------------------------------------------------------------

    def size(self, rel: str) -> int | None:
        """Bytes of the file ``rel``, None when there is none."""
        return self._call(lambda: self._size(rel), f"stat {rel}")

    def read_bytes(self, rel: str) -> bytes | None:
        """The bytes of ``rel``, None when there is no such file (one request: no stat first)."""
        def read() -> bytes | None:
            try:
                with self.fs.open_input_stream(self.path(rel)) as f:
                    return f.read()
            except FileNotFoundError:
                return None
        return self._call(read, f"read {rel}")

    def digest(self, rel: str) -> str:
        """blake2b-16 hex of ``rel`` as stored (read back whole)."""
        return self._call(lambda: self._digest(rel), f"read back {rel}")

    # The bare requests (an OSError passes through: ``S3Store._retried`` retries it).

    def _size(self, rel: str) -> int | None:
        info = self.fs.get_file_info(self.path(rel))
        return info.size if info.type == pafs.FileType.File else None

    def _digest(self, rel: str) -> str:
        h = hashlib.blake2b(digest_size=16)
        with self.fs.open_input_stream(self.path(rel)) as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        return h.hexdigest()

    def shards(self) -> list[str]:
        """Shard names holding a manifest here (``""`` for an unsharded archive at the root), sorted."""
        out = [""] if self.size(MANIFEST) is not None else []
        sel = pafs.FileSelector(self.base, allow_not_found=True)
        infos = self._call(lambda: self.fs.get_file_info(sel), "list shards")
        for info in infos:
            name = info.base_name
            if info.type == pafs.FileType.Directory and name.startswith(SHARD_DIR):
                if self._child(name).size(MANIFEST) is not None:
                    out.append(name[len(SHARD_DIR):])
        return sorted(out)

    # -- writing --------------------------------------------------------------------

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Make ``rel`` hold ``data``; readers see the old bytes or the new, never a part."""
        raise NotImplementedError

    def put_file(self, local: Path, rel: str, *, size: int, blake2b: str) -> None:
        """Copy the verified local file ``local`` to ``rel`` and check the copy."""
        raise NotImplementedError

    def list_files(self, rel: str) -> list[str]:
        """Names of the files directly under ``rel`` (none if it is absent), sorted."""
        sel = pafs.FileSelector(self.path(rel), allow_not_found=True)
        infos = self._call(lambda: self.fs.get_file_info(sel), f"list {rel}")
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.File)

    def stamp(self, rel: str) -> tuple[int, ...] | None:
        """(mtime ns, size[, inode]) of ``rel``: changes when it is rewritten (None when absent)."""
        info = self._call(lambda: self.fs.get_file_info(self.path(rel)), f"stat {rel}")
        if info.type != pafs.FileType.File:
            return None
        return info.mtime_ns or 0, info.size

    def delete_file(self, rel: str) -> None:
        """Remove the file ``rel`` (nothing if absent; one request, no stat first)."""
        def delete() -> None:
            try:
                self.fs.delete_file(self.path(rel))
            except FileNotFoundError:
                pass
        self._call(delete, f"delete {rel}")

    def move(self, rel: str, to: str) -> None:
        """Rename ``rel`` to ``to`` (on S3: a copy, then a delete)."""
        self._call(lambda: self.fs.move(self.path(rel), self.path(to)), f"move {rel}")

    def delete_dir(self, rel: str) -> None:
        """Remove the files under ``rel`` (nothing if absent): listed, then deleted one by one."""
        sel = pafs.FileSelector(self.path(rel), recursive=True, allow_not_found=True)
        infos = self._call(lambda: self.fs.get_file_info(sel), f"list {rel}")
        for info in infos:
            if info.type == pafs.FileType.File:
                self._call(lambda p=info.path: self.fs.delete_file(p), f"delete {info.path}")

    def check(self) -> None:
        """Raise ``ArchiveError`` unless this store can be read and written (bucket, keys)."""

    def check_read(self) -> None:
        """Raise ``ArchiveError`` unless this store can be read (bucket, keys)."""

    def attach(self, con: Any) -> None:
        """Let DuckDB connection ``con`` read ``uri()``s of this store."""

    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        try:
            return fn()
        except OSError as exc:
            raise ArchiveError(f"{self.url}: cannot {what}: {exc}") from None


class LocalStore(ArchiveStore):
    """An archive in a local directory (``DATA/archive`` unless told otherwise)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        root = Path(root).absolute()
        super().__init__(pafs.LocalFileSystem(), str(root), str(root))
        self.root = root

    def _child(self, rel: str) -> LocalStore:
        return LocalStore(self.root / rel)

    def stamp(self, rel: str) -> tuple[int, ...] | None:
        """(mtime ns, size, inode): a rename of a new file over ``rel`` changes the inode
        even within the file system's mtime granularity."""
        try:
            st = (self.root / rel).stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ArchiveError(f"{self.url}: cannot stat {rel}: {exc}") from None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def write_bytes(self, rel: str, data: bytes) -> None:
        write_atomic(self.root / rel, data)

    def put_file(self, local: Path, rel: str, *, size: int, blake2b: str) -> None:
        data = local.read_bytes()
        if len(data) != size or hashlib.blake2b(data, digest_size=16).hexdigest() != blake2b:
            raise ArchiveError(f"{local}: changed since it was verified")
        write_atomic(self.root / rel, data)


class S3Store(ArchiveStore):
    """An archive under ``s3://bucket/prefix`` of an S3-compatible service."""

    remote = True

    def __init__(self, bucket: str, prefix: str, settings: S3Settings, *,
                 fs: pafs.S3FileSystem | None = None, attempts: int = UPLOAD_ATTEMPTS,
                 backoff_s: float = BACKOFF_S) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.settings = settings
        self.attempts = attempts
        self.backoff_s = backoff_s
        key = f"{bucket}/{self.prefix}" if self.prefix else bucket
        if fs is None:
            fs = pafs.S3FileSystem(
                access_key=settings.access_key, secret_key=settings.secret_key,
                session_token=settings.session_token or None, region=settings.region,
                scheme=settings.scheme, endpoint_override=settings.host if settings.endpoint else None,
                force_virtual_addressing=False, connect_timeout=5, request_timeout=30,
                retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=2))
        super().__init__(fs, key, f"{S3}{key}")

    def _child(self, rel: str) -> S3Store:
        prefix = f"{self.prefix}/{rel}" if self.prefix else rel
        return S3Store(self.bucket, prefix, self.settings, fs=self.fs, attempts=self.attempts,  # type: ignore[arg-type]
                       backoff_s=self.backoff_s)

    def uri(self, rel: str) -> str:
        return f"{S3}{self.path(rel)}"

    def _put(self, rel: str, data: bytes) -> None:
        with self.fs.open_output_stream(self.path(rel)) as out:
            out.write(data)

    def _retried(self, fn: Callable[[], Any], what: str) -> Any:
        """``fn()``, tried again after a transient failure (bounded backoff, logged)."""
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except OSError as exc:
                text = str(exc)
                if any(code in text for code in _FATAL):
                    raise ArchiveError(f"{self.url}: cannot {what}: {text}") from None
                if attempt == self.attempts:
                    raise ArchiveError(f"{self.url}: cannot {what} after {attempt} attempts: {text}") from None
                log.warning("%s: %s failed (attempt %d/%d): %s; retrying in %.1fs",
                            self.url, what, attempt, self.attempts, text, delay)
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
        raise AssertionError("unreachable")

    def write_bytes(self, rel: str, data: bytes) -> None:
        self._retried(lambda: self._put(rel, data), f"write {rel}")
        got = self._retried(lambda: self._size(rel), f"stat {rel}")
        if got != len(data):
            raise ArchiveError(f"{self.where(rel)}: {got} bytes stored, {len(data)} written")

    def put_file(self, local: Path, rel: str, *, size: int, blake2b: str) -> None:
        def upload() -> None:
            if local.stat().st_size != size:
                raise ArchiveError(f"{local}: changed since it was verified")
            pafs.copy_files(str(local), self.path(rel), source_filesystem=pafs.LocalFileSystem(),
                            destination_filesystem=self.fs)

        self._retried(upload, f"upload {rel}")
        got = self._retried(lambda: self._size(rel), f"stat {rel}")
        if got != size:
            raise ArchiveError(f"{self.where(rel)}: {got} bytes stored, {size} uploaded")
        back = self._retried(lambda: self._digest(rel), f"read back {rel}")
        if back != blake2b:
            raise ArchiveError(f"{self.where(rel)}: read back blake2b {back}, uploaded {blake2b}")

    def check_read(self) -> None:
        try:
            info = self.fs.get_file_info(self.bucket)
        except OSError as exc:
            raise ArchiveError(f"{self.url}: {_said(exc)}") from None
        if info.type == pafs.FileType.NotFound:
            raise ArchiveError(f"{self.url}: no bucket {self.bucket!r} at {self.settings.host}")

    def check(self) -> None:
        self.check_read()
        probe = f".probe-{os.getpid()}"
        try:
            self._put(probe, b"")
            self.fs.delete_file(self.path(probe))
        except OSError as exc:
            raise ArchiveError(f"{self.url}: cannot write: {_said(exc)}") from None

    def attach(self, con: Any) -> None:
        con.execute(f"LOAD '{_sql_text(httpfs_extension())}'")
        s = self.settings
        fields = [("KEY_ID", s.access_key), ("SECRET", s.secret_key), ("REGION", s.region),
                  ("ENDPOINT", s.host), ("URL_STYLE", "path")]
        if s.session_token:
            fields.append(("SESSION_TOKEN", s.session_token))
        body = ", ".join(f"{k} '{_sql_text(v)}'" for k, v in fields)
        use_ssl = "true" if s.scheme == "https" else "false"
        con.execute(f"CREATE OR REPLACE SECRET ticktape_archive (TYPE s3, {body}, USE_SSL {use_ssl}, "
                    f"SCOPE '{_sql_text(S3 + self.bucket)}')")


def _said(exc: OSError) -> str:
    text = str(exc)
    if any(code in text for code in _DENIED):
        return f"access denied (wrong key or secret?): {text}"
    return text


def _sql_text(s: str) -> str:
    return s.replace("'", "''")


def httpfs_extension() -> str:
    """Path of DuckDB's httpfs extension shipped in the ``duckdb_extension_httpfs`` wheel."""
    import duckdb

    try:
        import duckdb_extension_httpfs
    except ImportError:
        raise ArchiveError("reading S3 with DuckDB needs the duckdb-extension-httpfs package") from None
    base = os.path.dirname(duckdb_extension_httpfs.__file__)
    want = os.path.join(base, "extensions", f"v{duckdb.__version__}", "httpfs.duckdb_extension")
    if os.path.exists(want):
        return want
    found = sorted(glob.glob(os.path.join(base, "extensions", "*", "httpfs.duckdb_extension")))
    if not found:
        raise ArchiveError(f"no httpfs.duckdb_extension under {base}")
    return found[-1]


# --- opening -----------------------------------------------------------------------------


def parse_s3(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix); ``UsageError`` when there is no bucket."""
    rest = url[len(S3):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise UsageError(f"not an s3://bucket/prefix URL: {url!r}")
    if not _BUCKET.fullmatch(bucket):
        raise UsageError(f"not an S3 bucket name (3-63 of a-z 0-9 . -): {bucket!r} in {url!r}")
    return bucket, prefix.strip("/")


def open_store(archive: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> ArchiveStore:
    """The store of an ``--archive`` value: ``s3://bucket/prefix`` or a local directory."""
    if is_remote(archive):
        bucket, prefix = parse_s3(str(archive))
        return S3Store(bucket, prefix, s3_settings(env))
    return LocalStore(archive)


def root_store(data_dir: str | os.PathLike[str], archive: str | os.PathLike[str] | ArchiveStore | None = None
               ) -> ArchiveStore:
    """The archive root of a data directory: ``archive`` when given, else ``DATA/archive``."""
    if isinstance(archive, ArchiveStore):
        return archive
    return open_store(archive) if archive is not None else LocalStore(Path(data_dir) / ARCHIVE_DIR)


def data_shard(data_dir: str | os.PathLike[str]) -> str:
    """The shard name of the journal of ``data_dir`` (``""`` when none, or no journal)."""
    from recorder.journal import NotAJournalError
    from recorder.journal.segments import read_catalog, require_journal

    try:
        meta, _ = read_catalog(require_journal(data_dir))
    except NotAJournalError:
        return ""
    return str(meta.get("shard", "") or "")


def as_store(where: str | os.PathLike[str] | ArchiveStore) -> ArchiveStore:
    """A store as given, or the archive of a data directory's own journal (its shard's)."""
    if isinstance(where, ArchiveStore):
        return where
    if is_remote(where):
        return open_store(where)
    return LocalStore(Path(where) / ARCHIVE_DIR).shard(data_shard(where))

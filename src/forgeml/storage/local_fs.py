"""File-system primitives of the file backend: atomic temp-file writes, directory fsync, and the
sidecar metadata (etag, content type) kept under `.forgeml-store/meta/`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from forgeml.storage.base import DEFAULT_CONTENT_TYPE, ObjectInfo
from forgeml.storage.common import utc_from_timestamp


class SourceStreamError(Exception):
    """Carries an exception raised by the caller's data stream past `_fs_errors` unchanged."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def guarded(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Re-raise any failure of `chunks` (the caller's stream) as `SourceStreamError`."""
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except Exception as exc:
            raise SourceStreamError(exc) from exc
        yield chunk


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable (POSIX needs the directory itself synced)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def write_atomically(
    tmp_dir: Path, prefix: str, chunks: Iterable[bytes], *, durable: bool = True
) -> Iterator[Path]:
    """Write `chunks` to a fresh temp file in `tmp_dir`, fsync it (if `durable`), yield its path.

    The body is expected to rename the file into place. Whatever happens (a failing stream, a
    failing rename), no temp file outlives the block, so no half-written object is ever visible.
    One fsync at the end, as any copy does: the kernel writes back dirty pages meanwhile.
    """
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix=prefix)
    tmp = Path(name)
    try:
        # Unbuffered: chunks are ~1 MiB, and a buffer would only add a copy of small ones.
        with open(fd, "wb", buffering=0) as out:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:  # a raw write may be short
                    view = view[out.write(view) or 0 :]
            if durable:
                os.fsync(out.fileno())
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def prune_empty_dirs(folder: Path, root: Path) -> None:
    """Remove `folder` and its parents up to (not including) `root` while they are empty."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (or already gone): a concurrent writer owns it now
        folder = folder.parent


def stat_etag(st: os.stat_result) -> str:
    """The version fingerprint of an object file: changes whenever the file is replaced."""
    return f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"


class MetaStore:
    """Sidecar records `{key, ino, size, mtime_ns, etag, content_type}`, one JSON file per key.

    Sidecars are named by sha256(key) in 256 buckets, so no key can collide with another key's
    sidecar or folder. A record counts only while inode, size and mtime match the object file:
    a stale one (a crash or a race between the object rename and the sidecar write) is rebuilt
    from the file's stat, which loses only the content type (and a multipart etag's form).
    Sidecars are not fsynced for that reason.
    """

    def __init__(self, root: Path, tmp_dir: Path) -> None:
        self._root = root
        self._tmp = tmp_dir

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self._root / digest[:2] / f"{digest}.json"

    def write(self, key: str, st: os.stat_result, etag: str, content_type: str) -> None:
        record = {
            "key": key,
            "ino": st.st_ino,
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "etag": etag,
            "content_type": content_type,
        }
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = [json.dumps(record).encode("utf-8")]
        with write_atomically(self._tmp, "meta-", body, durable=False) as tmp:
            os.replace(tmp, path)

    def _load(self, key: str) -> dict[str, Any] | None:
        try:
            record = json.loads(self._path(key).read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def read(self, key: str, path: Path, st: os.stat_result) -> tuple[str, str]:
        """Return `(etag, content_type)` of the object file at `path` (stat result `st`)."""
        record = self._load(key)
        if record is not None and (
            record.get("key") == key
            and record.get("ino") == st.st_ino
            and record.get("size") == st.st_size
            and record.get("mtime_ns") == st.st_mtime_ns
        ):
            return str(record["etag"]), str(record["content_type"])
        etag = stat_etag(st)
        content_type = DEFAULT_CONTENT_TYPE
        with suppress(OSError):  # healing the sidecar is best effort
            self.write(key, st, etag, content_type)
        return etag, content_type

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    @staticmethod
    def info(key: str, st: os.stat_result, etag: str, content_type: str | None) -> ObjectInfo:
        last_modified = utc_from_timestamp(st.st_mtime)
        return ObjectInfo(key, st.st_size, etag, content_type, last_modified)

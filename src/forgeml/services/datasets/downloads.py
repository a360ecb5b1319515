"""Reading committed versions: file lists, manifests, one file (with byte ranges), a whole version
as a streamed tar, and presigned GET URLs. Every byte read or URL handed out is audited.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from forgeml.config import S3Settings
from forgeml.db import datasets as q
from forgeml.db.pagination import Page
from forgeml.db.types import utcnow
from forgeml.domain.datasets import Dataset, DatasetFile, DatasetVersion, check_path, fold
from forgeml.domain.errors import Conflict, ForgeError, NotFound
from forgeml.services.datasets.access import DatasetAccess, record_version
from forgeml.services.identity.audit import Actor
from forgeml.storage.base import ObjectStore

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_BLOCK = tarfile.BLOCKSIZE


class RangeNotSatisfiable(ForgeError):
    """The Range header asks for bytes past the end (HTTP 416, rendered by the route)."""

    code = "range_not_satisfiable"


@dataclass(frozen=True)
class FileRead:
    file: DatasetFile
    start: int
    end: int  # inclusive
    partial: bool


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One `bytes=a-b`, `a-` or `-n` range; None (whole file) for absent or unparseable ones,
    as RFC 9110 says to ignore those; multiple ranges are served whole too."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None or (m.group(1) == "" and m.group(2) == ""):
        return None
    if m.group(1) == "":
        n = int(m.group(2))
        if n == 0 or size == 0:
            raise RangeNotSatisfiable("empty suffix range", details={"size": size})
        return max(size - n, 0), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size:
        raise RangeNotSatisfiable(f"range starts past {size} bytes", details={"size": size})
    if end < start:
        return None
    return start, min(end, size - 1)


def presigned_download(
    store: ObjectStore, s3: S3Settings, key: str, filename: str
) -> tuple[str, int] | None:
    """A presigned GET of `key` and its lifetime in seconds; None when presigning downloads is
    turned off (`s3.presign_downloads`) or the store cannot presign. Callers audit the URL."""
    if not s3.presign_downloads:
        return None
    ttl = s3.download_url_ttl_s
    url = store.presign_get(key, ttl, filename=filename)
    return None if url is None else (url, ttl)


class DownloadService:
    def __init__(self, parent: DatasetAccess) -> None:
        self.p = parent
        self.db = parent.db
        self.store = parent.store

    def _version(
        self, actor: Actor, dataset_id: str, number: int
    ) -> tuple[Dataset, DatasetVersion]:
        ds = self.p.load_for_read(actor, dataset_id)
        with self.db.read() as conn:
            return ds, q.get_committed(conn, ds.id, number)

    def _file(self, v: DatasetVersion, path: str) -> DatasetFile:
        with self.db.read() as conn:
            f = q.find_file(conn, v.id, fold(check_path(path)))
        if f is None:
            raise NotFound(f"file {path!r} not found in version {v.number}")
        return f

    def _audit(
        self, actor: Actor, action: str, ds: Dataset, v: DatasetVersion, **details: Any
    ) -> None:
        with self.db.write() as conn:
            record_version(
                conn, actor, action, ds, v.id, {"dataset_id": ds.id, "version": v.number, **details}
            )

    def files(
        self, actor: Actor, dataset_id: str, number: int, *, cursor: str | None, limit: int
    ) -> Page[DatasetFile]:
        _, v = self._version(actor, dataset_id, number)
        with self.db.read() as conn:
            return q.list_files(conn, v.id, cursor=cursor, limit=limit)

    def manifest(self, actor: Actor, dataset_id: str, number: int) -> tuple[DatasetVersion, bytes]:
        ds, v = self._version(actor, dataset_id, number)
        from forgeml.domain.object_keys import manifest_key
        from forgeml.storage.base import read_bytes

        return v, read_bytes(self.store, manifest_key(ds.tenant_id, ds.id, v.number))

    def read_file(
        self, actor: Actor, dataset_id: str, number: int, path: str, range_header: str | None
    ) -> FileRead:
        ds, v = self._version(actor, dataset_id, number)
        f = self._file(v, path)
        size = f.size or 0
        rng = parse_range(range_header, size)
        start, end = rng if rng else (0, size - 1)
        self._audit(
            actor, "dataset.download", ds, v, path=f.path, range=[start, end] if rng else None
        )
        return FileRead(f, start, end, rng is not None)

    def local_file(self, read: FileRead) -> Path | None:
        """The object's file when the store is local disk (the transport may send it with
        zero-copy means); None for other stores. Never handed to untrusted code."""
        return self.store.local_path(read.file.object_key)

    def stream(self, read: FileRead) -> Iterator[bytes]:
        if read.end < read.start:  # an empty file
            return
        with self.store.open(read.file.object_key, start=read.start, end=read.end) as chunks:
            yield from chunks

    def archive(
        self, actor: Actor, dataset_id: str, number: int
    ) -> tuple[Dataset, DatasetVersion, Iterator[bytes]]:
        """A tar of the whole version, generated while it is sent (nothing is spooled)."""
        ds, v = self._version(actor, dataset_id, number)
        with self.db.read() as conn:
            files = q.session_files(conn, v.id)
        self._audit(actor, "dataset.download", ds, v, path=None, archive="tar")
        return ds, v, self._tar(files, v.committed_at or utcnow())

    def _tar(self, files: list[DatasetFile], mtime: datetime) -> Iterator[bytes]:
        # Headers come from tarfile itself; the bodies are copied from the store chunk by chunk,
        # which `TarFile.addfile` cannot do without holding a whole member in a buffer.
        written = 0
        for f in files:
            info = tarfile.TarInfo(f.path)
            info.size, info.mtime, info.mode = f.size or 0, int(mtime.timestamp()), 0o644
            header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            yield header
            with self.store.open(f.object_key) as chunks:
                yield from chunks
            pad = -info.size % _BLOCK
            yield b"\0" * pad
            written += len(header) + info.size + pad
        end = 2 * _BLOCK
        end += -(written + end) % tarfile.RECORDSIZE
        yield b"\0" * end

    def presign(
        self, actor: Actor, dataset_id: str, number: int, path: str
    ) -> tuple[str, datetime]:
        ds, v = self._version(actor, dataset_id, number)
        f = self._file(v, path)
        s3 = self.p.s3
        if not s3.presign_downloads:
            msg = "presigned download URLs are turned off here; GET the file through the API"
            raise Conflict(msg, code="presign_disabled")
        signed = presigned_download(self.store, s3, f.object_key, f.path.rsplit("/", 1)[-1])
        if signed is None:
            raise Conflict("this object store has no presigned URLs", code="presign_unsupported")
        url, ttl = signed
        self._audit(actor, "dataset.presign", ds, v, path=f.path, expires_s=ttl)
        return url, utcnow() + timedelta(seconds=ttl)

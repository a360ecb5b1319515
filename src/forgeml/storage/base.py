"""The `ObjectStore` protocol every storage backend implements, and its small value types.

Backends: `local.FileObjectStore` (file://), `s3.S3ObjectStore` (s3://), `memory.MemoryObjectStore`.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol, TypedDict, Unpack, runtime_checkable

#: Bytes moved per read/write when streaming through the platform.
CHUNK_SIZE = 1024 * 1024
#: Every multipart part but the last must be at least this big (the S3 rule, enforced everywhere).
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000
#: Presigned URLs live at most this long (the SigV4 limit).
MAX_PRESIGN_S = 7 * 24 * 3600
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a store knows about one object.

    `etag` is an opaque version fingerprint without quotes: it changes when the object is
    rewritten and `copy` keeps it. S3 and memory give the hex md5 of the bytes for `put`, the file
    store its file's fingerprint (no content hash: callers that need a digest compute it once);
    `complete_multipart` objects carry the S3 form `md5(concat(part md5s))-<part count>`.
    `content_type` is None in `list()` results on every backend (S3 listings do not carry it);
    `head()` always fills it. `last_modified` is timezone-aware UTC.
    """

    key: str
    size: int
    etag: str
    content_type: str | None
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class PartInfo:
    """One uploaded part of a multipart upload; `etag` is the part's hex md5, unquoted."""

    part_number: int
    etag: str
    size: int


class UploadInfo(NamedTuple):
    """An unfinished multipart upload, as listed for garbage collection."""

    key: str
    upload_id: str
    initiated: datetime


#: What `put` and `upload_part` accept: bytes, or a binary file object read in chunks.
Data = bytes | bytearray | memoryview | BinaryIO


class PutOptions(TypedDict, total=False):
    """The keywords of `ObjectStore.put`: the object's content type (default
    `DEFAULT_CONTENT_TYPE`) and the size the data must have (None: whatever it turns out)."""

    content_type: str | None
    size: int | None


@runtime_checkable
class ObjectStore(Protocol):
    """A flat key space of immutable-once-written objects (keys: see `storage.keys.check_key`).

    Errors come from `forgeml.domain.errors`: `InvalidInput` (bad key, range, part list or size),
    `NotFound` (missing object or upload), `Conflict` (file backend: a key collides with a
    "directory" of other keys), `Unavailable` (backend unreachable or misconfigured).
    """

    supports_presign: bool

    def ping(self) -> None:
        """Raise `Unavailable` unless the store can be read and written."""
        ...

    def describe(self) -> str:
        """The store's URL, never with credentials."""
        ...

    def put(self, key: str, data: Data, **options: Unpack[PutOptions]) -> ObjectInfo:
        """Store `data` under `key`, replacing any object there, reading streams in chunks.

        When `size` is given and the data is shorter or longer, raise `InvalidInput` and leave
        the previous object (or none) in place. An exception from the stream likewise stores
        nothing: readers see the old object or the new one, never a part.
        """
        ...

    def open(
        self, key: str, *, start: int | None = None, end: int | None = None
    ) -> AbstractContextManager[Iterator[bytes]]:
        """Stream an object: `with store.open(key) as chunks: for chunk in chunks: ...`.

        The range is HTTP-style and inclusive: bytes `start..end`, both counted from 0. `start`
        alone reads to the end, `end` alone reads from 0, and an `end` past the object is
        clamped. `start` beyond the last byte, or `end < start`, raises `InvalidInput`.
        `NotFound` is raised by `open()` itself or, at the latest, on entering the context.
        """
        ...

    def head(self, key: str) -> ObjectInfo: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with `prefix` (a plain string prefix), sorted by key."""
        ...

    def delete(self, key: str) -> None:
        """Remove an object; deleting a missing one is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under a non-empty `prefix`; return how many were removed."""
        ...

    def copy(self, src: str, dst: str) -> ObjectInfo:
        """Copy bytes and content type server-side; `NotFound` when `src` is missing."""
        ...

    def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """Start a multipart upload and return its upload id."""
        ...

    def upload_part(self, key: str, upload_id: str, part_number: int, data: Data) -> PartInfo:
        """Upload (or replace) part `part_number` (1..10000) of an upload."""
        ...

    def list_parts(self, key: str, upload_id: str) -> builtins.list[PartInfo]:
        """The parts uploaded so far, by part number: what a client resumes from."""
        ...

    def complete_multipart(
        self, key: str, upload_id: str, parts: builtins.list[PartInfo] | None = None
    ) -> ObjectInfo:
        """Assemble the object from `parts` (None: every uploaded part).

        The order of `parts` does not matter: they are sorted by part number. A part that was
        not uploaded or whose etag differs, a duplicate number, no parts at all, or a part
        other than the last smaller than `MIN_PART_SIZE` raises `InvalidInput`. Uploaded parts
        left out of `parts` are discarded.
        """
        ...

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Discard an upload and its parts; aborting an unknown upload is not an error."""
        ...

    def list_multipart_uploads(self, prefix: str = "") -> builtins.list[UploadInfo]:
        """Unfinished uploads under `prefix`, sorted by key then start time."""
        ...

    def presign_get(self, key: str, expires_s: int, *, filename: str | None = None) -> str | None:
        """A URL that downloads the object (as attachment `filename` if given), or None."""
        ...

    def presign_put(self, key: str, expires_s: int) -> str | None:
        """A URL that accepts one HTTP PUT of the whole object, or None."""
        ...

    def presign_upload_part(
        self, key: str, upload_id: str, part_number: int, expires_s: int
    ) -> str | None:
        """A URL that accepts one HTTP PUT of one part, or None."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The object's file on local disk (file backend only; `NotFound` if missing) or None.

        Callers must never hand it (or a hard link to it) to untrusted code: copy or reflink it.
        """
        ...


@runtime_checkable
class SweepsTemp(Protocol):
    """A store that stages writes in temp files of its own (the file backend); a crash mid-write
    leaves them behind, so a sweeper removes those older than a cutoff."""

    def sweep_temp(self, older_than: datetime) -> int:
        """Remove staging temp files last modified before `older_than`; how many."""
        ...


def read_bytes(
    store: ObjectStore, key: str, *, start: int | None = None, end: int | None = None
) -> bytes:
    """Read a (small) object or range into memory; a convenience for tests and tiny objects."""
    with store.open(key, start=start, end=end) as chunks:
        return b"".join(chunks)

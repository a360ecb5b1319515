"""`memory://name`: an in-process object store for fast tests of the layers above storage.

It is a faithful fake (same keys, errors, etags and multipart rules as the real backends), shipped
in the library in the way httpx ships MockTransport. Every `open_store("memory://…")` is a new,
empty store: share one by passing the instance.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from forgeml.domain.errors import InvalidInput, NotFound
from forgeml.storage.base import CHUNK_SIZE, Data, ObjectInfo, PartInfo, UploadInfo
from forgeml.storage.common import (
    NoPresign,
    StoreBase,
    check_part_number,
    check_upload_id,
    checked_chunks,
    content_type_or_default,
    md5_hasher,
    multipart_etag,
    new_upload_id,
    resolve_range,
    select_parts,
    utc_now,
)
from forgeml.storage.keys import check_key, check_prefix


@dataclass(frozen=True, slots=True)
class _Object:
    data: bytes
    etag: str
    content_type: str
    last_modified: datetime

    def info(self, key: str, *, with_type: bool = True) -> ObjectInfo:
        content_type = self.content_type if with_type else None
        return ObjectInfo(key, len(self.data), self.etag, content_type, self.last_modified)


@dataclass(slots=True)
class _Upload:
    key: str
    content_type: str
    initiated: datetime
    parts: dict[int, tuple[PartInfo, bytes]] = field(default_factory=dict)


def _read_all(data: Data, size: int | None = None) -> tuple[bytes, str]:
    """Collect a stream chunk by chunk (the fake keeps bytes in memory by design) and hash it."""
    digest = md5_hasher()
    buf = bytearray()
    for chunk in checked_chunks(data, size):
        digest.update(chunk)
        buf += chunk
    return bytes(buf), digest.hexdigest()


class MemoryObjectStore(StoreBase, NoPresign):
    """A thread-safe dict of objects plus in-flight multipart uploads."""

    def __init__(self, name: str = "") -> None:
        self._name = name
        self._objects: dict[str, _Object] = {}
        self._uploads: dict[str, _Upload] = {}
        self._lock = threading.Lock()

    def ping(self) -> None:
        return None

    def describe(self) -> str:
        return f"memory://{self._name}"

    # -- whole objects -------------------------------------------------------------------------

    def _put(self, key: str, data: Data, ctype: str, size: int | None) -> ObjectInfo:
        body, etag = _read_all(data, size)
        obj = _Object(body, etag, ctype, utc_now())
        with self._lock:
            self._objects[key] = obj
        return obj.info(key)

    def _get(self, key: str) -> _Object:
        check_key(key)
        with self._lock:
            obj = self._objects.get(key)
        if obj is None:
            raise NotFound(f"object {key!r} not found")
        return obj

    def open(
        self, key: str, *, start: int | None = None, end: int | None = None
    ) -> AbstractContextManager[Iterator[bytes]]:
        obj = self._get(key)
        bounds = resolve_range(start, end, len(obj.data))
        first, last = bounds if bounds is not None else (0, len(obj.data) - 1)
        return self._stream(obj.data, first, last + 1)

    @contextmanager
    def _stream(self, data: bytes, first: int, stop: int) -> Iterator[Iterator[bytes]]:
        yield (data[i : min(i + CHUNK_SIZE, stop)] for i in range(first, stop, CHUNK_SIZE))

    def head(self, key: str) -> ObjectInfo:
        return self._get(key).info(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        with self._lock:
            items = sorted((k, o) for k, o in self._objects.items() if k.startswith(prefix))
        for key, obj in items:
            yield obj.info(key, with_type=False)

    def delete(self, key: str) -> None:
        check_key(key)
        with self._lock:
            self._objects.pop(key, None)

    def delete_prefix(self, prefix: str) -> int:
        if check_prefix(prefix) == "":
            raise InvalidInput("delete_prefix needs a non-empty prefix")
        with self._lock:
            doomed = [k for k in self._objects if k.startswith(prefix)]
            for key in doomed:
                del self._objects[key]
        return len(doomed)

    def copy(self, src: str, dst: str) -> ObjectInfo:
        obj = self._get(src)
        check_key(dst)
        new = _Object(obj.data, obj.etag, obj.content_type, utc_now())
        with self._lock:
            self._objects[dst] = new
        return new.info(dst)

    # -- multipart -----------------------------------------------------------------------------

    def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        check_key(key)
        upload_id = new_upload_id()
        upload = _Upload(key, content_type_or_default(content_type), utc_now())
        with self._lock:
            self._uploads[upload_id] = upload
        return upload_id

    def _upload(self, key: str, upload_id: str) -> _Upload:
        check_key(key)
        check_upload_id(upload_id)
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise NotFound(f"multipart upload {upload_id!r} not found")
        return upload

    def upload_part(self, key: str, upload_id: str, part_number: int, data: Data) -> PartInfo:
        check_part_number(part_number)
        upload = self._upload(key, upload_id)
        body, etag = _read_all(data)
        part = PartInfo(part_number, etag, len(body))
        with self._lock:
            upload.parts[part_number] = (part, body)
        return part

    def list_parts(self, key: str, upload_id: str) -> builtins.list[PartInfo]:
        upload = self._upload(key, upload_id)
        with self._lock:
            return [upload.parts[n][0] for n in sorted(upload.parts)]

    def complete_multipart(
        self, key: str, upload_id: str, parts: builtins.list[PartInfo] | None = None
    ) -> ObjectInfo:
        upload = self._upload(key, upload_id)
        with self._lock:
            chosen = select_parts([p for p, _ in upload.parts.values()], parts)
            body = b"".join(upload.parts[p.part_number][1] for p in chosen)
            etag = multipart_etag([p.etag for p in chosen])
            obj = _Object(body, etag, upload.content_type, utc_now())
            # Claimed under the lock, so two racing completions cannot both succeed.
            if self._uploads.pop(upload_id, None) is None:
                raise NotFound(f"multipart upload {upload_id!r} not found")
            self._objects[key] = obj
        return obj.info(key)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        check_key(key)
        with self._lock:
            upload = self._uploads.get(upload_id)
            if upload is not None and upload.key == key:
                del self._uploads[upload_id]

    def list_multipart_uploads(self, prefix: str = "") -> builtins.list[UploadInfo]:
        check_prefix(prefix)
        with self._lock:
            found = [
                UploadInfo(u.key, upload_id, u.initiated)
                for upload_id, u in self._uploads.items()
                if u.key.startswith(prefix)
            ]
        return sorted(found, key=lambda u: (u.key, u.initiated))

    # -- presign and local paths: not possible in memory ------------------------------------

    def local_path(self, key: str) -> Path | None:
        check_key(key)
        return None

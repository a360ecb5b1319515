"""Rules shared by every backend (chunking, size checks, ranges, multipart validation), so that
the backends agree on behaviour and errors by construction rather than by care.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Unpack
from urllib.parse import quote

from forgeml.domain.errors import InvalidInput, NotFound
from forgeml.storage.base import (
    CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    MAX_PART_NUMBER,
    MAX_PRESIGN_S,
    MIN_PART_SIZE,
    Data,
    ObjectInfo,
    PartInfo,
    PutOptions,
)
from forgeml.storage.keys import check_key


def iter_data(data: Data, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield `data` in chunks of at most `chunk_size` bytes, never reading a stream whole."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data).cast("B")
        for offset in range(0, len(view), chunk_size):
            yield bytes(view[offset : offset + chunk_size])
        return
    while True:
        chunk = data.read(chunk_size)
        if not chunk:
            return
        yield chunk


def size_mismatch(expected: int, received: int) -> InvalidInput:
    return InvalidInput(
        f"declared size {expected} but received {received}{'+' if received > expected else ''}"
        " bytes",
        details={"expected": expected, "received": received},
    )


def checked_chunks(data: Data, size: int | None, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """`iter_data`, raising `InvalidInput` once the data proves longer or shorter than `size`."""
    if size is not None and size < 0:
        raise InvalidInput("size must not be negative")
    received = 0
    for chunk in iter_data(data, chunk_size):
        received += len(chunk)
        if size is not None and received > size:
            raise size_mismatch(size, received)
        yield chunk
    if size is not None and received != size:
        raise size_mismatch(size, received)


def content_type_or_default(content_type: str | None) -> str:
    if content_type is None or content_type == "":
        return DEFAULT_CONTENT_TYPE
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in content_type) or len(content_type) > 255:
        raise InvalidInput("invalid content type")
    return content_type


def resolve_range(start: int | None, end: int | None, size: int) -> tuple[int, int] | None:
    """Turn an inclusive `start..end` request into concrete bounds; None means "whole object"."""
    if start is None and end is None:
        return None
    first = 0 if start is None else start
    if first < 0 or (end is not None and end < first):
        raise InvalidInput(f"invalid byte range {start}-{end}")
    if first >= size:
        raise InvalidInput(f"byte range {start}-{end} not satisfiable for {size} bytes")
    last = size - 1 if end is None else min(end, size - 1)
    return first, last


def range_header(start: int | None, end: int | None) -> str | None:
    """The HTTP Range header for an inclusive request (validated like `resolve_range`)."""
    if start is None and end is None:
        return None
    first = 0 if start is None else start
    if first < 0 or (end is not None and end < first):
        raise InvalidInput(f"invalid byte range {start}-{end}")
    return f"bytes={first}-{'' if end is None else end}"


def md5_hasher() -> hashlib._Hash:
    # md5 is the S3 etag algorithm, an integrity fingerprint rather than a security control.
    return hashlib.md5(usedforsecurity=False)


#: Hashing threads shared by every store in the process (hashlib drops the GIL on big buffers).
_HASH_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="forgeml-hash")
#: Chunks below this are hashed inline: a thread hand-off would cost more than the hashing.
_INLINE_HASH_BELOW = 256 * 1024


class PipelinedHash:
    """A hash fed in order, each big chunk (or batch) hashed on a pool thread while the caller
    goes on (writing the same bytes, say).

    md5 runs at a few hundred MB/s and sha256 at one or two GB/s: hashing inline would add its
    time to every streamed write instead of overlapping it. One batch is in flight at a time,
    which keeps the order and holds at most one batch beyond the caller's. Chunks must not be
    mutated after `update`.
    """

    def __init__(self, hasher: hashlib._Hash) -> None:
        self._hasher = hasher
        self._pending: Future[None] | None = None

    def _settle(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def update(self, chunk: bytes) -> None:
        self.update_batch([chunk])

    def update_batch(self, chunks: list[bytes]) -> None:
        """Hash `chunks` in order with one hand-off for all: a batch of the small pieces a
        server receives (64-256 KiB) costs one thread hop, not one per piece."""
        self._settle()
        if sum(len(c) for c in chunks) < _INLINE_HASH_BELOW:
            _feed(self._hasher, chunks)
        else:
            self._pending = _HASH_POOL.submit(_feed, self._hasher, chunks)

    def hexdigest(self) -> str:
        self._settle()
        return self._hasher.hexdigest()


def _feed(hasher: hashlib._Hash, chunks: list[bytes]) -> None:
    for chunk in chunks:
        hasher.update(chunk)


def multipart_etag(part_etags: list[str]) -> str:
    """S3's etag of a multipart object: md5 of the concatenated binary part md5s, '-', count."""
    digest = md5_hasher()
    for etag in part_etags:
        digest.update(bytes.fromhex(etag))
    return f"{digest.hexdigest()}-{len(part_etags)}"


def check_part_number(part_number: int) -> int:
    if not isinstance(part_number, int) or not 1 <= part_number <= MAX_PART_NUMBER:
        raise InvalidInput(f"part number must be between 1 and {MAX_PART_NUMBER}")
    return part_number


_UPLOAD_ID = re.compile(r"^[A-Za-z0-9._~=+-]{1,1024}$")


def check_upload_id(upload_id: str) -> str:
    """Refuse ids no backend issues (they travel in URLs and, on the file backend, paths)."""
    if not isinstance(upload_id, str) or not _UPLOAD_ID.match(upload_id) or ".." in upload_id:
        raise NotFound(f"multipart upload {str(upload_id)[:64]!r} not found")
    return upload_id


def select_parts(uploaded: list[PartInfo], requested: list[PartInfo] | None) -> list[PartInfo]:
    """Validate a completion request against the uploaded parts; return the parts to assemble.

    `uploaded` may hold several entries for one part number (SeaweedFS lists every re-upload):
    a requested part matches any of them, and with `requested=None` the last one listed wins.
    """
    by_number: dict[int, list[PartInfo]] = {}
    for part in uploaded:
        by_number.setdefault(part.part_number, []).append(part)
    if requested is None:
        chosen = [by_number[n][-1] for n in sorted(by_number)]
    else:
        numbers = [p.part_number for p in requested]
        if len(set(numbers)) != len(numbers):
            raise InvalidInput("duplicate part numbers in completion request")
        chosen = []
        for want in sorted(requested, key=lambda p: p.part_number):
            etag = want.etag.strip('"')
            match = [p for p in by_number.get(want.part_number, []) if p.etag == etag]
            if not match:
                raise InvalidInput(
                    f"part {want.part_number} was not uploaded or its etag differs",
                    details={"part_number": want.part_number},
                )
            chosen.append(match[-1])
    if not chosen:
        raise InvalidInput("a multipart upload needs at least one part")
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise InvalidInput(
                f"part {part.part_number} is {part.size} bytes; every part but the last must be"
                f" at least {MIN_PART_SIZE}",
                details={"part_number": part.part_number},
            )
    return chosen


def check_expiry(expires_s: int) -> int:
    if not isinstance(expires_s, int) or not 1 <= expires_s <= MAX_PRESIGN_S:
        raise InvalidInput(f"expiry must be between 1 and {MAX_PRESIGN_S} seconds")
    return expires_s


def content_disposition(filename: str) -> str:
    """An attachment header that survives any filename (RFC 6266 / RFC 5987)."""
    ascii_name = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def new_upload_id() -> str:
    return secrets.token_hex(16)


def utc_from_timestamp(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


class StoreBase:
    """What every backend does the same way on top of its own primitives: `put()` checks the key
    and the content type, then calls the backend's `_put`; `exists()` is a look-up that did not
    raise `NotFound`."""

    def put(self, key: str, data: Data, **options: Unpack[PutOptions]) -> ObjectInfo:
        check_key(key)
        ctype = content_type_or_default(options.get("content_type"))
        return self._put(key, data, ctype, options.get("size"))

    def _put(self, key: str, data: Data, content_type: str, size: int | None) -> ObjectInfo:
        raise NotImplementedError

    def head(self, key: str) -> ObjectInfo:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        try:
            self._find(key)
        except NotFound:
            return False
        return True

    def _find(self, key: str) -> object:
        """The cheapest look-up that raises `NotFound` for a missing object (here: `head`)."""
        return self.head(key)


class NoPresign:
    """For backends that cannot hand out URLs: validate the arguments, then answer None."""

    supports_presign = False

    def presign_get(self, key: str, expires_s: int, *, filename: str | None = None) -> str | None:
        check_key(key)
        check_expiry(expires_s)
        return None

    def presign_put(self, key: str, expires_s: int) -> str | None:
        check_key(key)
        check_expiry(expires_s)
        return None

    def presign_upload_part(
        self, key: str, upload_id: str, part_number: int, expires_s: int
    ) -> str | None:
        check_key(key)
        check_part_number(part_number)
        check_expiry(expires_s)
        return None

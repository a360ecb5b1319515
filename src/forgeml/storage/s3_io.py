"""Plumbing for the S3 backend: botocore error translation, a streaming reader for uploads and a
chunked reader for downloads. botocore is imported lazily (the base install has no boto3).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

from forgeml.domain.errors import ForgeError, InvalidInput, NotFound, Unavailable
from forgeml.storage.base import CHUNK_SIZE, Data
from forgeml.storage.common import iter_data

#: S3 error codes that mean "the caller asked for something impossible".
_INVALID_CODES = frozenset(
    {
        "InvalidRange",
        "InvalidPart",
        "InvalidPartOrder",
        "EntityTooSmall",
        "EntityTooLarge",
        "InvalidArgument",
        "KeyTooLongError",
        "InvalidRequest",
    }
)
_DENIED_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}
)


def translate_client_error(response: Mapping[str, Any], what: str) -> ForgeError:
    """Map one botocore `ClientError.response` to the ForgeError tree."""
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")) or code
    if code in ("NoSuchKey", "404", "NotFound"):
        return NotFound(f"{what} not found")
    if code == "NoSuchUpload":
        return NotFound(f"multipart upload for {what} not found")
    if code == "NoSuchBucket":
        return Unavailable(f"object store bucket is missing: {message}")
    if code in _INVALID_CODES:
        return InvalidInput(f"{what}: {message}", details={"s3_code": code})
    if code in _DENIED_CODES:
        return Unavailable(f"object store refused the credentials ({code})")
    return Unavailable(f"object store error on {what}: {code} {message}".strip())


@contextmanager
def s3_errors(what: str) -> Iterator[None]:
    """Translate botocore/boto3 exceptions raised inside the block; ForgeErrors pass through."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

    try:
        yield
    except ClientError as exc:
        raise translate_client_error(exc.response, what) from exc
    except ParamValidationError as exc:
        raise InvalidInput(f"{what}: {exc}") from exc
    except (BotoCoreError, Boto3Error) as exc:
        # Connection refused, timeouts, missing credentials, failed transfers.
        raise Unavailable(f"object store unreachable ({what}): {exc}") from exc


class ChunkReader:
    """A non-seekable file object over a chunk iterator, for `upload_fileobj`.

    s3transfer decides "one PUT or multipart" by reading up to the threshold and then treats a
    short `read(n)` as the last part, so `read(n)` returns exactly `n` bytes until the end.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._parts: list[bytes] = []  # kept as they came: one join per read, no growing buffer
        self._have = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or self._have < size):
            chunk = next(self._chunks, None)
            if chunk is None:
                self._done = True
            elif chunk:
                self._parts.append(chunk)
                self._have += len(chunk)
        rest: list[bytes] = []
        if 0 <= size < self._have:  # split the last chunk at the boundary
            last, keep = self._parts[-1], len(self._parts[-1]) - (self._have - size)
            self._parts[-1], rest = last[:keep], [last[keep:]]
        out = b"".join(self._parts)  # the only copy (none at all for a single chunk)
        self._parts, self._have = rest, self._have - len(out)
        return out


def seekable_body(data: Data) -> tuple[bytes | IO[bytes], int]:
    """A body botocore can sign and retry (bytes or a seekable file) and its size.

    Streams are spooled (memory up to 8 MiB, then a temp file), never read whole into memory.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        body = bytes(data)
        return body, len(body)
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (caller closes)
    size = 0
    for chunk in iter_data(data):
        spool.write(chunk)
        size += len(chunk)
    spool.seek(0)
    return spool, size


def iter_body(body: Any, what: str) -> Iterator[bytes]:
    """Yield a botocore StreamingBody in chunks, translating mid-stream failures."""
    with s3_errors(what):
        yield from body.iter_chunks(CHUNK_SIZE)

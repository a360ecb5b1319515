"""`s3://bucket/optional/prefix`: any S3-compatible store (AWS, SeaweedFS, MinIO, ...) via boto3.

boto3 is imported when a store is built, never at module import: the base install lacks it.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from forgeml.config import S3Settings, mask_url
from forgeml.domain.errors import InvalidInput, NotFound, Unavailable
from forgeml.storage.base import Data, ObjectInfo, PartInfo, UploadInfo
from forgeml.storage.common import (
    StoreBase,
    check_expiry,
    check_part_number,
    check_upload_id,
    checked_chunks,
    content_disposition,
    content_type_or_default,
    range_header,
    select_parts,
)
from forgeml.storage.keys import MAX_KEY_BYTES, check_key, check_prefix
from forgeml.storage.s3_io import ChunkReader, iter_body, s3_errors, seekable_body

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

MIB = 1024 * 1024
#: Above this a server-side copy must be a multipart copy (the S3 CopyObject limit).
_MAX_SINGLE_COPY = 5 * 1024 * MIB


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class S3ObjectStore(StoreBase):
    """Objects under `<prefix>/` in one bucket; keys in the API never include the prefix."""

    supports_presign: bool = True

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        settings: S3Settings | None = None,
        *,
        multipart_chunksize: int = 16 * MIB,  # x concurrency = buffered bytes per stream
        max_concurrency: int = 4,
        page_size: int = 1000,
    ) -> None:
        try:
            import boto3
            from boto3.s3.transfer import TransferConfig
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise InvalidInput("s3:// storage needs boto3: pip install 'forgeml[s3]'") from exc
        self._settings = settings or S3Settings()
        self._bucket = bucket
        self._prefix = f"{check_key(prefix.strip('/'))}/" if prefix.strip("/") else ""
        self._page_size = page_size
        s = self._settings
        config = Config(
            region_name=s.region,
            signature_version="s3v4",
            s3={"addressing_style": "path" if s.path_style else "virtual"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=max(10, 2 * max_concurrency),
            # Checksums only where S3 requires them: many S3-compatible stores reject the
            # newer default (aws-chunked trailing checksums).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client: S3Client = boto3.client(
            "s3",
            endpoint_url=s.endpoint_url,
            aws_access_key_id=s.access_key_id.get_secret_value() if s.access_key_id else None,
            aws_secret_access_key=(
                s.secret_access_key.get_secret_value() if s.secret_access_key else None
            ),
            config=config,
        )
        self._transfer = TransferConfig(
            multipart_threshold=multipart_chunksize,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
        )
        # A stream (not a file) is read ahead into memory up to this many chunks (s3transfer's
        # default, 10, buffered ~10 x 16 MiB plus copies per upload); keep it to what uploads.
        self._transfer.max_in_memory_upload_chunks = max_concurrency

    def _full(self, key: str) -> str:
        full = self._prefix + check_key(key)
        # S3's 1024-byte limit applies to the full key, so the store prefix eats into it.
        if len(full.encode("utf-8")) > MAX_KEY_BYTES:
            raise InvalidInput(
                f"object key {key[:80]!r} is too long under prefix {self._prefix!r}",
                details={"reason": "too long with the store prefix"},
            )
        return full

    def _short(self, full_key: str) -> str:
        return full_key[len(self._prefix) :]

    def ping(self) -> None:
        try:
            with s3_errors(f"bucket {self._bucket!r}"):
                self._client.head_bucket(Bucket=self._bucket)
        except NotFound:
            raise Unavailable(f"object store bucket {self._bucket!r} does not exist") from None

    def describe(self) -> str:
        url = f"s3://{self._bucket}/{self._prefix}".rstrip("/")
        endpoint = self._settings.endpoint_url
        return f"{url} (endpoint {mask_url(endpoint)})" if endpoint else url

    def ensure_bucket(self) -> None:
        """Create the bucket if missing. For tests and demos; production buckets are provisioned."""
        try:
            with s3_errors(f"bucket {self._bucket!r}"):
                self._client.head_bucket(Bucket=self._bucket)
        except NotFound:
            with s3_errors(f"bucket {self._bucket!r}"):
                self._client.create_bucket(Bucket=self._bucket)

    # -- whole objects -------------------------------------------------------------------------

    def _put(self, key: str, data: Data, ctype: str, size: int | None) -> ObjectInfo:
        full = self._full(key)
        extra = {"ContentType": ctype}
        # Streams go through s3transfer in `multipart_chunksize` pieces: one PUT when small,
        # a multipart upload (aborted on any error, ours included) when large.
        # ChunkReader is file-like enough for s3transfer (read/readable/seekable), not an IO.
        reader = cast(IO[bytes], ChunkReader(checked_chunks(data, size)))
        with s3_errors(repr(key)):
            self._client.upload_fileobj(
                reader, self._bucket, full, ExtraArgs=extra, Config=self._transfer
            )
        return self.head(key)

    def open(
        self, key: str, *, start: int | None = None, end: int | None = None
    ) -> AbstractContextManager[Iterator[bytes]]:
        args: dict[str, Any] = {"Bucket": self._bucket, "Key": self._full(key)}
        requested = range_header(start, end)
        if requested is not None:
            args["Range"] = requested
        with s3_errors(f"object {key!r}"):
            response = self._client.get_object(**args)
        return self._stream(response["Body"], key)

    @contextmanager
    def _stream(self, body: Any, key: str) -> Iterator[Iterator[bytes]]:
        try:
            yield iter_body(body, f"object {key!r}")
        finally:
            body.close()

    def head(self, key: str) -> ObjectInfo:
        with s3_errors(f"object {key!r}"):
            r = self._client.head_object(Bucket=self._bucket, Key=self._full(key))
        etag = r["ETag"].strip('"')
        return ObjectInfo(key, r["ContentLength"], etag, r["ContentType"], _utc(r["LastModified"]))

    def _pages(self, prefix: str) -> Iterator[builtins.list[dict[str, Any]]]:
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self._bucket,
            Prefix=self._prefix + prefix,
            PaginationConfig={"PageSize": self._page_size},
        )
        with s3_errors(f"listing {prefix!r}"):
            for page in pages:
                yield [dict(item) for item in page.get("Contents", [])]

    def _level(self, full_prefix: str) -> builtins.list[tuple[str, dict[str, Any] | None]]:
        """One "folder" level: objects (with their listing data) and sub-prefixes (None), sorted.

        A sub-prefix 'a/' sorts as itself, which puts it exactly where its keys belong.
        """
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self._bucket,
            Prefix=full_prefix,
            Delimiter="/",
            PaginationConfig={"PageSize": self._page_size},
        )
        entries: builtins.list[tuple[str, dict[str, Any] | None]] = []
        with s3_errors(f"listing {self._short(full_prefix)!r}"):
            for page in pages:
                entries += [(str(i["Key"]), dict(i)) for i in page.get("Contents", [])]
                entries += [(str(p["Prefix"]), None) for p in page.get("CommonPrefixes", [])]
        return sorted(entries, key=lambda entry: entry[0])

    def _walk(self, full_prefix: str) -> Iterator[dict[str, Any]]:
        for name, item in self._level(full_prefix):
            if item is None:
                yield from self._walk(name)
            elif not name.endswith("/"):  # folder markers made by other tools are not objects
                yield item

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects in true key (UTF-8 byte) order on every server.

        A flat listing is not enough: SeaweedFS, for one, lists folder by folder ('a/b' before
        'a-c'), so this walks the "folders" with Delimiter='/' and sorts each level itself.
        Memory is bounded by one level's fan-out; `delete_prefix` uses the cheaper flat listing.
        """
        check_prefix(prefix)
        for item in self._walk(self._prefix + prefix):
            etag = str(item["ETag"]).strip('"')
            modified = _utc(item["LastModified"])
            yield ObjectInfo(self._short(item["Key"]), item["Size"], etag, None, modified)

    def delete(self, key: str) -> None:
        with s3_errors(f"object {key!r}"):
            self._client.delete_object(Bucket=self._bucket, Key=self._full(key))

    def delete_prefix(self, prefix: str) -> int:
        if check_prefix(prefix) == "":
            raise InvalidInput("delete_prefix needs a non-empty prefix")
        count = 0
        for page in self._pages(prefix):  # pages hold at most 1000 keys: one DeleteObjects each
            if not page:
                continue
            doomed: Any = {"Objects": [{"Key": item["Key"]} for item in page], "Quiet": True}
            with s3_errors(f"deleting {prefix!r}"):
                result = self._client.delete_objects(Bucket=self._bucket, Delete=doomed)
            if result.get("Errors"):
                raise Unavailable(f"could not delete under {prefix!r}: {result['Errors'][:3]}")
            count += len(page)
        return count

    def copy(self, src: str, dst: str) -> ObjectInfo:
        source = self.head(src)
        target = self._full(dst)
        copy_source: Any = {"Bucket": self._bucket, "Key": self._full(src)}
        with s3_errors(f"copy {src!r} -> {dst!r}"):
            if source.size <= _MAX_SINGLE_COPY:
                self._client.copy_object(
                    Bucket=self._bucket,
                    Key=target,
                    CopySource=copy_source,
                    MetadataDirective="COPY",
                )
            else:
                self._client.copy(copy_source, self._bucket, target, Config=self._transfer)
        return self.head(dst)

    # -- multipart -----------------------------------------------------------------------------

    def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        ctype = content_type_or_default(content_type)
        with s3_errors(f"object {key!r}"):
            r = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._full(key), ContentType=ctype
            )
        return r["UploadId"]

    def upload_part(self, key: str, upload_id: str, part_number: int, data: Data) -> PartInfo:
        full = self._full(key)
        check_upload_id(upload_id)
        check_part_number(part_number)
        body, size = seekable_body(data)
        try:
            with s3_errors(f"object {key!r}"):
                r = self._client.upload_part(
                    Bucket=self._bucket,
                    Key=full,
                    UploadId=upload_id,
                    PartNumber=part_number,
                    Body=body,
                )
        finally:
            if not isinstance(body, bytes):
                body.close()
        return PartInfo(part_number, r["ETag"].strip('"'), size)

    def _listed_parts(self, key: str, upload_id: str) -> builtins.list[PartInfo]:
        """Every listed part, oldest first within a part number.

        SeaweedFS keeps (and lists) every upload of a part number, stamped to the second only:
        uploads of one part number within the same second cannot be ordered.
        """
        full = self._full(key)
        check_upload_id(upload_id)
        paginator = self._client.get_paginator("list_parts")
        listed: builtins.list[tuple[int, datetime, PartInfo]] = []
        with s3_errors(f"object {key!r}"):
            for page in paginator.paginate(Bucket=self._bucket, Key=full, UploadId=upload_id):
                for p in page.get("Parts", []):
                    part = PartInfo(p["PartNumber"], p["ETag"].strip('"'), p["Size"])
                    listed.append((part.part_number, p["LastModified"], part))
        listed.sort(key=lambda entry: entry[:2])  # stable: ties keep the server's order
        return [part for _, _, part in listed]

    def list_parts(self, key: str, upload_id: str) -> builtins.list[PartInfo]:
        newest = {p.part_number: p for p in self._listed_parts(key, upload_id)}
        return [newest[n] for n in sorted(newest)]

    def complete_multipart(
        self, key: str, upload_id: str, parts: builtins.list[PartInfo] | None = None
    ) -> ObjectInfo:
        # Validated against the server's own part list, so every backend fails the same way
        # (and out-of-order requests are sorted rather than refused as S3 would).
        chosen = select_parts(self._listed_parts(key, upload_id), parts)
        manifest: Any = {
            "Parts": [{"PartNumber": p.part_number, "ETag": f'"{p.etag}"'} for p in chosen]
        }
        with s3_errors(f"object {key!r}"):
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._full(key),
                UploadId=upload_id,
                MultipartUpload=manifest,
            )
        return self.head(key)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            check_upload_id(upload_id)
            with s3_errors(f"object {key!r}"):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._full(key), UploadId=upload_id
                )
        except NotFound:
            return  # already aborted or completed: aborting is idempotent

    def list_multipart_uploads(self, prefix: str = "") -> builtins.list[UploadInfo]:
        check_prefix(prefix)
        paginator = self._client.get_paginator("list_multipart_uploads")
        found = []
        with s3_errors(f"uploads under {prefix!r}"):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=self._prefix + prefix):
                for u in page.get("Uploads", []):
                    found.append(
                        UploadInfo(self._short(u["Key"]), u["UploadId"], _utc(u["Initiated"]))
                    )
        return sorted(found, key=lambda u: (u.key, u.initiated))

    # -- presigned URLs ------------------------------------------------------------------------

    def _presign(self, method: str, params: dict[str, Any], expires_s: int) -> str:
        with s3_errors("presign"):
            return self._client.generate_presigned_url(
                method, Params=params, ExpiresIn=check_expiry(expires_s)
            )

    def presign_get(self, key: str, expires_s: int, *, filename: str | None = None) -> str | None:
        params: dict[str, Any] = {"Bucket": self._bucket, "Key": self._full(key)}
        if filename is not None:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return self._presign("get_object", params, expires_s)

    def presign_put(self, key: str, expires_s: int) -> str | None:
        params = {"Bucket": self._bucket, "Key": self._full(key)}
        return self._presign("put_object", params, expires_s)

    def presign_upload_part(
        self, key: str, upload_id: str, part_number: int, expires_s: int
    ) -> str | None:
        params = {
            "Bucket": self._bucket,
            "Key": self._full(key),
            "UploadId": check_upload_id(upload_id),
            "PartNumber": check_part_number(part_number),
        }
        return self._presign("upload_part", params, expires_s)

    def local_path(self, key: str) -> Path | None:
        check_key(key)
        return None

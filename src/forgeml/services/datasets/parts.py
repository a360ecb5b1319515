"""Presigned multipart uploads straight to the store (S3): plan the parts and hand out URLs,
list what arrived (resume), complete, and re-hash the object (S3 etags are not sha256); and the
sha256-hashing body reader of streamed uploads.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from forgeml.db import datasets as q
from forgeml.db.types import utcnow
from forgeml.domain.datasets import (
    Dataset,
    DatasetFile,
    DatasetVersion,
    FileState,
    check_path,
    fold,
)
from forgeml.domain.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from forgeml.domain.ids import new_id
from forgeml.services.datasets import archives
from forgeml.services.datasets.access import record_version
from forgeml.services.datasets.upload_files import FileDecl, UploadFiles
from forgeml.services.identity.audit import Actor
from forgeml.storage.base import CHUNK_SIZE, MAX_PART_NUMBER, MIN_PART_SIZE, ObjectStore
from forgeml.storage.common import PipelinedHash

DEFAULT_PART_SIZE = 64 * 1024 * 1024


@dataclass(frozen=True)
class PartPlan:
    file: DatasetFile
    part_size: int
    part_count: int
    urls: dict[int, str]  # part number -> presigned PUT, for the parts not yet uploaded
    expires_at: datetime


class HashingBody:
    """A read()-able view of body chunks that sha256-hashes them as the store reads.

    Unlike `archives.HashingReader` it hands a chunk over as is when it fits the read, so the
    bytes are neither joined nor sliced again. The hash runs on a pool thread, a batch of about
    CHUNK_SIZE at a time, while the store writes the same chunks: receiving, hashing and writing
    overlap instead of adding up.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._iter = iter(chunks)
        self._rest = b""
        self._sha = PipelinedHash(hashlib.sha256())
        self._batch: list[bytes] = []
        self._batched = 0

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            out = b"".join([self._rest, *self._iter])
            self._rest = b""
        else:
            out = self._rest
            while not out and n:  # an empty chunk is no end of stream; only exhaustion is
                got = next(self._iter, None)
                if got is None:
                    return b""
                out = got
            if len(out) > n:
                out, self._rest = out[:n], out[n:]
            else:
                self._rest = b""
        self._batch.append(bytes(out))  # bytes: no caller's buffer may change under the hash
        self._batched += len(out)
        if self._batched >= CHUNK_SIZE:
            self._flush()
        return out

    def _flush(self) -> None:
        if self._batch:
            self._sha.update_batch(self._batch)
            self._batch, self._batched = [], 0

    def hexdigest(self) -> str:
        self._flush()
        return self._sha.hexdigest()


@dataclass(frozen=True)
class Session:
    """An upload session as its uploader sees it: the version, its files, parts already sent."""

    version: DatasetVersion
    files: list[DatasetFile]
    parts: dict[str, list[dict[str, int | str]]]  # file id -> parts already at the store


class PartsMixin(UploadFiles):
    """The multipart half of `UploadService`: presigned parts straight to the store."""

    def plan_parts(
        self, actor: Actor, dataset_id: str, upload_id: str, decl: FileDecl, part_size: int | None
    ) -> PartPlan:
        ds, v = self._open(actor, dataset_id, upload_id)  # 404 first: nothing leaks to strangers
        if not self.store.supports_presign:
            raise Conflict("this object store has no presigned URLs", code="presign_unsupported")
        check_path(decl.path)
        with self.db.read() as conn:
            f = q.find_file(conn, v.id, fold(decl.path))
        if f is None:
            self.create_files(actor, ds, v, [decl])
            with self.db.read() as conn:
                f = q.find_file(conn, v.id, fold(decl.path))
            assert f is not None
        if f.state is FileState.UPLOADED:
            raise Conflict(f"{decl.path!r} was already uploaded", code="already_uploaded")
        size = f.size or 0
        if f.upload_id is None:
            ps = max(
                part_size or DEFAULT_PART_SIZE, MIN_PART_SIZE, math.ceil(size / MAX_PART_NUMBER)
            )
            uid = self.store.create_multipart(f.object_key, content_type=f.content_type)
            with self.db.write() as conn:
                q.update_file(conn, f.id, {"upload_id": uid, "part_size": ps})
            f = DatasetFile(**{**f.__dict__, "upload_id": uid, "part_size": ps})
        assert f.upload_id is not None and f.part_size is not None
        count = max(1, math.ceil(size / f.part_size))
        done = {p.part_number for p in self.store.list_parts(f.object_key, f.upload_id)}
        ttl = self.p.s3.presign_expiry_s
        urls = {
            n: self.store.presign_upload_part(f.object_key, f.upload_id, n, ttl) or ""
            for n in range(1, count + 1)
            if n not in done
        }
        with self.db.write() as conn:
            record_version(
                conn,
                actor,
                "dataset.presign",
                ds,
                v.id,
                {"path": f.path, "direction": "upload", "parts": sorted(urls)},
            )
        return PartPlan(f, f.part_size, count, urls, utcnow() + timedelta(seconds=ttl))

    def create_files(
        self, actor: Actor, ds: Dataset, v: DatasetVersion, decls: list[FileDecl]
    ) -> None:
        try:
            with self.db.write() as conn:
                self.p.check_quota(conn, ds.tenant_id, sum(d.size for d in decls))
                q.insert_files(conn, [self._row(ds, v, new_id("dsf"), d) for d in decls])
        except QuotaExceeded as exc:
            self.p.quota_refused(actor, ds.tenant_id, exc)
            raise

    def complete_parts(
        self, actor: Actor, dataset_id: str, upload_id: str, path: str
    ) -> DatasetFile:
        ds, v = self._open(actor, dataset_id, upload_id)
        with self.db.read() as conn:
            f = q.find_file(conn, v.id, fold(check_path(path)))
        if f is None or f.upload_id is None:
            raise NotFound(f"no multipart upload for {path!r} in this session")
        return self._finish_multipart(actor, ds, v, f)

    def _finish_multipart(
        self, actor: Actor, ds: Dataset, v: DatasetVersion, f: DatasetFile
    ) -> DatasetFile:
        """Assemble the parts, then read the object back: S3 etags are not sha256."""
        assert f.upload_id is not None
        parts = self.store.list_parts(f.object_key, f.upload_id)
        got = sum(p.size for p in parts)
        if got != f.size:
            raise InvalidInput(
                f"{f.path!r}: {got} of {f.size} bytes arrived; upload the missing parts",
                code="incomplete_upload",
                details={"path": f.path, "received": got, "expected": f.size},
            )
        self.store.complete_multipart(f.object_key, f.upload_id, parts)
        reader = archives.HashingReader(_chunks(self.store, f.object_key))
        while reader.read(CHUNK_SIZE):
            pass
        if f.sha256 is not None and reader.hexdigest() != f.sha256:
            self.store.delete(f.object_key)
            with self.db.write() as conn:
                q.update_file(conn, f.id, {"upload_id": None, "part_size": None})
            raise InvalidInput(
                f"sha256 mismatch for {f.path!r}",
                code="checksum_mismatch",
                details={"path": f.path, "expected": f.sha256, "received": reader.hexdigest()},
            )
        decl = FileDecl(f.path, got, reader.hexdigest(), f.content_type)
        return self._arrived(actor, ds, v, [(f.id, decl, f)], "dataset_upload.complete_parts")[0]


def _chunks(store: ObjectStore, key: str) -> Iterable[bytes]:
    with store.open(key) as chunks:
        yield from chunks

"""Upload sessions: a version in status `uploading` gets files (streamed through the API, unpacked
from an archive, or sent as presigned multipart parts straight to S3), then commits atomically.

Nothing of a session is visible outside it until commit; abandoned ones expire and are collected.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from datetime import timedelta

from forgeml.db import datasets as q
from forgeml.db import events
from forgeml.db.pagination import Page
from forgeml.db.types import utcnow
from forgeml.domain.datasets import (
    SESSION_TTL_S,
    Dataset,
    DatasetFile,
    DatasetVersion,
    FileState,
    ManifestEntry,
    VersionStatus,
    canonical_manifest,
    check_path,
    fold,
    manifest_digest,
    path_problems,
)
from forgeml.domain.errors import Conflict, InvalidInput, QuotaExceeded
from forgeml.domain.ids import new_id
from forgeml.domain.object_keys import file_key, manifest_key
from forgeml.services.datasets import archives
from forgeml.services.datasets.access import record_version
from forgeml.services.datasets.parts import HashingBody, PartsMixin, Session
from forgeml.services.datasets.upload_files import FileDecl
from forgeml.services.identity.audit import Actor


def _sha_problem(value: str | None) -> bool:
    return value is not None and (
        len(value) != 64 or any(c not in "0123456789abcdef" for c in value)
    )


class UploadService(PartsMixin):
    # -- sessions ----------------------------------------------------------------------------

    def create(
        self, actor: Actor, dataset_id: str, files: list[FileDecl], ttl_s: int | None = None
    ) -> Session:
        ds = self.p.load_for_write(actor, dataset_id)
        problems = path_problems([f.path for f in files])
        problems += [
            {"loc": f"files.{i}.sha256", "msg": "use 64 lower-case hex characters"}
            for i, f in enumerate(files)
            if _sha_problem(f.sha256)
        ]
        if problems:
            raise InvalidInput.fields(problems)
        now = utcnow()
        vid = new_id("dsv")
        try:
            with self.db.write() as conn:
                number = q.next_version_number(conn, ds.id)
                version = q.insert_version(
                    conn,
                    {
                        "id": vid,
                        "dataset_id": ds.id,
                        "tenant_id": ds.tenant_id,
                        "number": number,
                        "status": VersionStatus.UPLOADING.value,
                        "file_count": 0,
                        "size_bytes": 0,
                        "digest": None,
                        "created_at": now,
                        "committed_at": None,
                        "expires_at": now + timedelta(seconds=ttl_s or SESSION_TTL_S),
                        "created_by": actor.p.user_id,
                    },
                )
                self.p.check_quota(conn, ds.tenant_id, sum(f.size for f in files))
                q.insert_files(conn, [self._row(ds, version, new_id("dsf"), f) for f in files])
                record_version(
                    conn,
                    actor,
                    "dataset_upload.create",
                    ds,
                    vid,
                    {"dataset_id": ds.id, "number": number, "declared": len(files)},
                )
        except QuotaExceeded as exc:
            self.p.quota_refused(actor, ds.tenant_id, exc)
            raise
        return self.get(actor, dataset_id, vid)

    def get(self, actor: Actor, dataset_id: str, upload_id: str) -> Session:
        """The session with each file's state and, for multipart files, the parts that arrived."""
        ds = self.p.load_for_read(actor, dataset_id)
        with self.db.read() as conn:
            v = q.get_session(conn, ds.id, upload_id)
            files = q.session_files(conn, v.id)
        parts: dict[str, list[dict[str, int | str]]] = {}
        for f in files:
            if f.upload_id and f.state is FileState.PENDING:
                got = self.store.list_parts(f.object_key, f.upload_id)
                parts[f.id] = [{"part_number": x.part_number, "size": x.size} for x in got]
        return Session(v, files, parts)

    def sessions(
        self, actor: Actor, dataset_id: str, *, cursor: str | None, limit: int
    ) -> Page[DatasetVersion]:
        ds = self.p.load_for_read(actor, dataset_id)
        with self.db.read() as conn:
            return q.list_versions(conn, ds.id, VersionStatus.UPLOADING, cursor=cursor, limit=limit)

    # -- streamed files ----------------------------------------------------------------------

    def put_file(
        self,
        actor: Actor,
        dataset_id: str,
        upload_id: str,
        path: str,
        chunks: Iterable[bytes],
        *,
        size: int | None,
        sha256: str | None,
        content_type: str | None,
    ) -> DatasetFile:
        """Stream one file into the store, hashing on the fly; nothing is kept on failure."""
        ds, v = self._open(actor, dataset_id, upload_id)
        check_path(path)
        if _sha_problem(sha256):
            raise InvalidInput.fields([{"loc": "x-content-sha256", "msg": "64 lower-case hex"}])
        with self.db.read() as conn:
            existing = q.find_file(conn, v.id, fold(path))
        if existing is not None and existing.state is FileState.UPLOADED:
            raise Conflict(
                f"{path!r} was already uploaded in this session", code="already_uploaded"
            )
        if existing is not None:
            if size is not None and existing.size is not None and size != existing.size:
                raise InvalidInput.fields(
                    [{"loc": "content-length", "msg": f"declared size is {existing.size}"}]
                )
            size = existing.size
            sha256 = sha256 or existing.sha256
        elif size is not None:
            self._quota_before_write(actor, ds, size)
        fid = existing.id if existing else new_id("dsf")
        key = existing.object_key if existing else file_key(ds.tenant_id, ds.id, v.number, fid)
        reader = HashingBody(chunks)
        ctype = content_type or (existing.content_type if existing else None)
        info = self.store.put(key, reader, content_type=ctype, size=size)  # type: ignore[arg-type]
        digest = reader.hexdigest()
        if sha256 is not None and digest != sha256:
            self.store.delete(key)
            raise InvalidInput(
                f"sha256 mismatch for {path!r}: declared {sha256}, received {digest}",
                code="checksum_mismatch",
                details={"path": path, "expected": sha256, "received": digest},
            )
        decl = FileDecl(path, info.size, digest, ctype)
        return self._arrived(actor, ds, v, [(fid, decl, existing)], "dataset_upload.put_file")[0]

    # -- archives ----------------------------------------------------------------------------

    def put_archive(
        self,
        actor: Actor,
        dataset_id: str,
        upload_id: str,
        chunks: Iterable[bytes],
        *,
        prefix: str,
        size: int | None,
    ) -> list[DatasetFile]:
        """Unpack a zip/tar(.gz) into the session: all members or, on any problem, none."""
        ds, v = self._open(actor, dataset_id, upload_id)
        if prefix:
            check_path(prefix, "prefix")
        if size is not None:
            self._quota_before_write(actor, ds, size)
        with tempfile.TemporaryFile() as spool:
            received = 0
            for chunk in chunks:
                received += len(chunk)
                spool.write(chunk)
            members = archives.inspect(spool, received, prefix, self.p.archive_limits)
            with self.db.read() as conn:
                have = [f.path for f in q.session_files(conn, v.id)]
            problems = path_problems([m.path for m in members], "archive", existing=have)
            if problems:
                raise InvalidInput.fields(problems, message="archive paths clash with the session")
            self._quota_before_write(actor, ds, sum(m.size for m in members))
            written: list[tuple[str, FileDecl, DatasetFile | None]] = []
            try:
                with archives.open_members(spool) as open_member:
                    for m in members:
                        fid = new_id("dsf")
                        key = file_key(ds.tenant_id, ds.id, v.number, fid)
                        written.append((fid, FileDecl(m.path, 0), None))
                        with open_member(m.name) as src:
                            reader = archives.HashingReader(src, limit=m.size)
                            info = self.store.put(key, reader, size=m.size)  # type: ignore[arg-type]
                        written[-1] = (fid, FileDecl(m.path, info.size, reader.hexdigest()), None)
            except Exception:
                for fid, _, _ in written:
                    self.store.delete(file_key(ds.tenant_id, ds.id, v.number, fid))
                raise
        return self._arrived(actor, ds, v, written, "dataset_upload.put_archive")

    # -- commit and abort --------------------------------------------------------------------

    def commit(self, actor: Actor, dataset_id: str, upload_id: str) -> DatasetVersion:
        ds, v = self._open(actor, dataset_id, upload_id)
        with self.db.read() as conn:
            files = q.session_files(conn, v.id)
        # An empty version is legitimate input: it mounts as an empty channel folder.
        for f in files:
            if f.state is FileState.PENDING and f.upload_id is not None:
                self._finish_multipart(actor, ds, v, f)
        with self.db.read() as conn:
            files = q.session_files(conn, v.id)
        problems = [
            {"loc": f"files.{f.path}", "msg": "declared but not uploaded"}
            for f in files
            if f.state is not FileState.UPLOADED
        ]
        for f in files:
            if f.state is FileState.UPLOADED and self.store.head(f.object_key).size != f.size:
                problems.append({"loc": f"files.{f.path}", "msg": "stored size differs"})
        if problems:
            raise InvalidInput.fields(problems, message=f"{len(problems)} file(s) not ready")
        entries = [
            ManifestEntry(f.path, f.size or 0, f.sha256 or "", f.content_type, f.object_key)
            for f in files
        ]
        self.store.put(
            manifest_key(ds.tenant_id, ds.id, v.number),
            canonical_manifest(entries),
            content_type="application/json",
        )
        return self._flip(actor, ds, v, entries)

    def _flip(
        self, actor: Actor, ds: Dataset, v: DatasetVersion, entries: list[ManifestEntry]
    ) -> DatasetVersion:
        total, digest = sum(e.size for e in entries), manifest_digest(entries)
        try:
            with self.db.write() as conn:
                self.p.check_quota(conn, ds.tenant_id, 0)  # undeclared bytes are counted now
                values = {
                    "status": VersionStatus.COMMITTED.value,
                    "file_count": len(entries),
                    "size_bytes": total,
                    "digest": digest,
                    "committed_at": utcnow(),
                    "expires_at": None,
                }
                if not q.transition(conn, v.id, VersionStatus.UPLOADING, values):
                    raise Conflict("upload session is no longer open", code="upload_closed")
                data = {"dataset_id": ds.id, "version": v.number, "version_id": v.id}
                data |= {"digest": digest, "size_bytes": total, "file_count": len(entries)}
                events.emit(
                    conn,
                    "dataset.version_committed",
                    tenant_id=ds.tenant_id,
                    data=data,
                    subject_type="dataset",
                    subject_id=ds.id,
                )
                record_version(conn, actor, "dataset_upload.commit", ds, v.id, data)
                return q.get_version_by_id(conn, v.id)
        except QuotaExceeded as exc:
            self.p.quota_refused(actor, ds.tenant_id, exc)
            raise

    def abort(self, actor: Actor, dataset_id: str, upload_id: str) -> DatasetVersion:
        ds, v = self._open(actor, dataset_id, upload_id)
        with self.db.write() as conn:
            closed = {"status": VersionStatus.ABORTED.value, "expires_at": None}
            if not q.transition(conn, v.id, VersionStatus.UPLOADING, closed):
                raise Conflict("upload session is no longer open", code="upload_closed")
            record_version(conn, actor, "dataset_upload.abort", ds, v.id)
            v = q.get_version_by_id(conn, v.id)
        from forgeml.services.datasets.gc import clean_version

        clean_version(self.db, self.store, v)
        return v

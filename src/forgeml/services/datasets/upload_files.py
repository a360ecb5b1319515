"""What both halves of an upload session share: opening the session, a file's row, the quota
check before bytes are written, and recording files whose bytes arrived (atomically)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from forgeml.db import datasets as q
from forgeml.db.types import utcnow
from forgeml.domain.datasets import (
    SESSION_TTL_S,
    Dataset,
    DatasetFile,
    DatasetVersion,
    FileState,
    VersionStatus,
    fold,
)
from forgeml.domain.errors import Conflict, QuotaExceeded
from forgeml.domain.object_keys import file_key
from forgeml.services.datasets.access import DatasetAccess, record_version
from forgeml.services.identity.audit import Actor
from forgeml.storage.base import DEFAULT_CONTENT_TYPE


@dataclass(frozen=True)
class FileDecl:
    """A file as its uploader declares it (size and sha256 are checked when the bytes arrive)."""

    path: str
    size: int
    sha256: str | None = None
    content_type: str | None = None


class UploadFiles:
    """The base of `UploadService` (streamed files, archives) and its multipart half."""

    def __init__(self, parent: DatasetAccess) -> None:
        self.p = parent
        self.db = parent.db
        self.store = parent.store

    def _row(self, ds: Dataset, v: DatasetVersion, fid: str, f: FileDecl) -> dict[str, Any]:
        return {
            "id": fid,
            "version_id": v.id,
            "tenant_id": ds.tenant_id,
            "path": f.path,
            "path_key": fold(f.path),
            "size": f.size,
            "sha256": f.sha256,
            "content_type": f.content_type or DEFAULT_CONTENT_TYPE,
            "object_key": file_key(ds.tenant_id, ds.id, v.number, fid),
            "state": FileState.PENDING.value,
            "upload_id": None,
            "part_size": None,
        }

    def _open(
        self, actor: Actor, dataset_id: str, upload_id: str
    ) -> tuple[Dataset, DatasetVersion]:
        ds = self.p.load_for_write(actor, dataset_id)
        with self.db.read() as conn:
            v = q.get_session(conn, ds.id, upload_id)
        if v.status is not VersionStatus.UPLOADING:
            raise Conflict(f"upload session is {v.status.value}", code=f"upload_{v.status.value}")
        return ds, v

    def _quota_before_write(self, actor: Actor, ds: Dataset, size: int) -> None:
        try:
            with self.db.read() as conn:
                self.p.check_quota(conn, ds.tenant_id, size)
        except QuotaExceeded as exc:
            self.p.quota_refused(actor, ds.tenant_id, exc)
            raise

    def _arrived(
        self,
        actor: Actor,
        ds: Dataset,
        v: DatasetVersion,
        files: list[tuple[str, FileDecl, DatasetFile | None]],
        action: str,
    ) -> list[DatasetFile]:
        """Record files whose bytes are in the store; on any conflict, remove those bytes."""
        try:
            with self.db.write() as conn:
                if q.get_version_by_id(conn, v.id).status is not VersionStatus.UPLOADING:
                    raise Conflict("upload session closed meanwhile", code="upload_closed")
                new = []
                for fid, decl, existing in files:
                    done = {"state": FileState.UPLOADED.value, "size": decl.size}
                    done |= {"sha256": decl.sha256, "upload_id": None}
                    if existing is not None:
                        q.update_file(conn, fid, {**done, "content_type": existing.content_type})
                    else:
                        new.append({**self._row(ds, v, fid, decl), **done})
                q.insert_files(conn, new)
                expires = utcnow() + timedelta(seconds=SESSION_TTL_S)
                q.transition(conn, v.id, VersionStatus.UPLOADING, {"expires_at": expires})
                record_version(
                    conn,
                    actor,
                    action,
                    ds,
                    v.id,
                    {"files": len(files), "first": files[0][1].path if files else None},
                )
                ids = {fid for fid, _, _ in files}
                return [f for f in q.session_files(conn, v.id) if f.id in ids]
        except (sa.exc.IntegrityError, Conflict) as exc:
            for fid, _decl, existing in files:
                if existing is None:
                    self.store.delete(file_key(ds.tenant_id, ds.id, v.number, fid))
            if isinstance(exc, Conflict) and not isinstance(exc.__cause__, sa.exc.IntegrityError):
                raise
            raise Conflict("the same path was uploaded twice", code="duplicate_path") from exc

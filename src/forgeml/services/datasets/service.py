"""Datasets: create, list, show, delete, quotas, and what training jobs resolve as inputs.

Uploads, downloads and grants live in sibling modules and share this service's helpers; every
`/datasets/{id}` call by a tenant on a platform dataset is refused as 404 *and* audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.engine import Connection

from forgeml.config import S3Settings
from forgeml.db import checkpoints as checkpoints_db
from forgeml.db import datasets as q
from forgeml.db import events
from forgeml.db import grants as grants_q
from forgeml.db import identity as idq
from forgeml.db.engine import Database
from forgeml.db.pagination import Page
from forgeml.db.scope import Scope
from forgeml.db.types import utcnow
from forgeml.domain.authz import Perm, require
from forgeml.domain.datasets import (
    Dataset,
    DatasetKind,
    DatasetVersion,
    ManifestEntry,
    ResolvedInput,
    check_dataset_name,
)
from forgeml.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, QuotaExceeded
from forgeml.domain.ids import new_id
from forgeml.domain.object_keys import dataset_prefix
from forgeml.services.datasets.archives import ArchiveLimits
from forgeml.services.datasets.downloads import DownloadService
from forgeml.services.datasets.grants import GrantService
from forgeml.services.datasets.preview import PreviewService
from forgeml.services.datasets.uploads import UploadService
from forgeml.services.identity.audit import Actor, record
from forgeml.storage.base import ObjectStore

log = structlog.get_logger("forgeml.datasets")
#: `in_use(conn, version_ids)`: True when a queued or running job reads one of these versions.
InUseCheck = Callable[[Connection, list[str]], bool]


@dataclass(frozen=True)
class Usage:
    tenant_id: str
    quota_bytes: int | None
    committed_bytes: int
    uploading_bytes: int
    checkpoint_bytes: int = 0  # files in the tenant's checkpoint locations

    @property
    def used_bytes(self) -> int:
        return self.committed_bytes + self.uploading_bytes + self.checkpoint_bytes


class DatasetService:
    def __init__(self, db: Database, store: ObjectStore, s3: S3Settings) -> None:
        self.db = db
        self.store = store
        self.s3 = s3  # the only settings the data lake reads: URL lifetimes
        self.in_use: InUseCheck = lambda _conn, _ids: False  # set by the training-jobs feature
        self.archive_limits = ArchiveLimits()
        self.uploads = UploadService(self)
        self.downloads = DownloadService(self)
        self.grants = GrantService(db)
        self.previews = PreviewService(self)

    # -- visibility shared by the sibling services -------------------------------------------

    def load(self, actor: Actor, dataset_id: str) -> Dataset:
        """The dataset through the caller's scope; tenants probing platform datasets are audited."""
        with self.db.read() as conn:
            try:
                return q.get_dataset(conn, Scope.of(actor.p), dataset_id)
            except NotFound:
                probed = (
                    None if actor.p.is_platform_admin else q.find_platform_dataset(conn, dataset_id)
                )
                if probed is None:
                    raise
        with self.db.write() as conn:
            record(
                conn,
                actor,
                "platform_dataset.access_denied",
                "dataset",
                dataset_id,
                outcome="denied",
                details={"reason": "platform datasets are never readable by tenants"},
            )
        raise NotFound(f"dataset {dataset_id!r} not found")

    def load_for_write(self, actor: Actor, dataset_id: str) -> Dataset:
        ds = self.load(actor, dataset_id)
        require(
            actor.p, Perm.PLATFORM_MANAGE if ds.kind is DatasetKind.PLATFORM else Perm.DATA_WRITE
        )
        return ds

    def load_for_read(self, actor: Actor, dataset_id: str) -> Dataset:
        ds = self.load(actor, dataset_id)
        require(actor.p, Perm.DATA_READ)
        return ds

    # -- catalog -----------------------------------------------------------------------------

    def create(
        self, actor: Actor, *, name: str, kind: DatasetKind, description: str, schema_notes: str
    ) -> Dataset:
        p = actor.p
        if kind is DatasetKind.PLATFORM:
            require(p, Perm.PLATFORM_MANAGE)
        else:
            require(p, Perm.DATA_WRITE)
            if p.tenant_id is None:
                raise InvalidInput.fields(
                    [{"loc": "kind", "msg": "platform admins create platform datasets"}]
                )
        now = utcnow()
        values = {
            "id": new_id("dst"),
            "tenant_id": p.tenant_id if kind is DatasetKind.TENANT else None,
            "kind": kind.value,
            "name": check_dataset_name(name),
            "description": description,
            "schema_notes": schema_notes,
            "created_at": now,
            "updated_at": now,
        }
        with self.db.write() as conn:
            ds = q.insert_dataset(conn, values)
            record(
                conn,
                actor,
                "dataset.create",
                "dataset",
                ds.id,
                tenant_id=ds.tenant_id,
                details={"kind": kind.value},
            )
        return ds

    def get(self, actor: Actor, dataset_id: str) -> tuple[Dataset, DatasetVersion | None]:
        ds = self.load_for_read(actor, dataset_id)
        with self.db.read() as conn:
            try:
                latest: DatasetVersion | None = q.get_committed(conn, ds.id, None)
            except NotFound:
                latest = None
        return ds, latest

    def list(
        self, actor: Actor, *, kind: DatasetKind | None, cursor: str | None, limit: int
    ) -> Page[Dataset]:
        require(actor.p, Perm.DATA_READ)
        with self.db.read() as conn:
            return q.list_datasets(
                conn,
                Scope.of(actor.p),
                kind=kind.value if kind else None,
                cursor=cursor,
                limit=limit,
            )

    def update(self, actor: Actor, dataset_id: str, changes: dict[str, Any]) -> Dataset:
        ds = self.load_for_write(actor, dataset_id)
        values = {k: v for k, v in changes.items() if k in ("description", "schema_notes")}
        with self.db.write() as conn:
            q.update_dataset(conn, ds.id, {**values, "updated_at": utcnow()})
            record(
                conn,
                actor,
                "dataset.update",
                "dataset",
                ds.id,
                tenant_id=ds.tenant_id,
                details={"fields": sorted(values)},
            )
            return q.get_dataset(conn, Scope.everything(), ds.id)

    def delete(self, actor: Actor, dataset_id: str) -> None:
        """Rows go in one transaction (refused while a job uses a version); objects right after.

        Deleting rows first makes the dataset vanish atomically; the objects are removed next
        and a failure there only leaves unreachable bytes (logged) - never a half-visible dataset.
        """
        ds = self.load_for_write(actor, dataset_id)
        with self.db.write() as conn:
            if self.in_use(conn, q.version_ids(conn, ds.id)):
                raise Conflict(
                    "a queued or running training job uses this dataset", code="dataset_in_use"
                )
            q.delete_dataset(conn, ds.id)
            record(conn, actor, "dataset.delete", "dataset", ds.id, tenant_id=ds.tenant_id)
        prefix = dataset_prefix(ds.tenant_id, ds.id)
        try:
            for upload in self.store.list_multipart_uploads(prefix):
                self.store.abort_multipart(upload.key, upload.upload_id)
            self.store.delete_prefix(prefix)
        except Exception:
            log.exception("dataset objects not deleted", dataset_id=ds.id, prefix=prefix)

    def versions(
        self, actor: Actor, dataset_id: str, *, cursor: str | None, limit: int
    ) -> Page[DatasetVersion]:
        from forgeml.domain.datasets import VersionStatus

        ds = self.load_for_read(actor, dataset_id)
        with self.db.read() as conn:
            return q.list_versions(conn, ds.id, VersionStatus.COMMITTED, cursor=cursor, limit=limit)

    def version(self, actor: Actor, dataset_id: str, number: int) -> DatasetVersion:
        ds = self.load_for_read(actor, dataset_id)
        with self.db.read() as conn:
            return q.get_committed(conn, ds.id, number)

    # -- quotas ------------------------------------------------------------------------------

    def usage(self, actor: Actor, tenant_id: str | None = None) -> Usage:
        require(actor.p, Perm.DATA_READ)
        target = tenant_id or actor.p.tenant_id
        if target is None:
            raise InvalidInput.fields([{"loc": "tenant_id", "msg": "required for platform admins"}])
        with self.db.read() as conn:
            tenant = idq.get_tenant(conn, Scope.of(actor.p), target)
            used = q.usage_bytes(conn, tenant.id)
            ckpt = checkpoints_db.usage_bytes(conn, tenant.id)
        return Usage(
            tenant.id, tenant.storage_quota_bytes, used["committed"], used["uploading"], ckpt
        )

    def check_quota(self, conn: Connection, tenant_id: str | None, extra: int) -> None:
        """Raise QuotaExceeded when the tenant's usage plus `extra` bytes is over its quota."""
        if tenant_id is None:
            return
        quota = idq.get_tenant(conn, Scope.everything(), tenant_id).storage_quota_bytes
        used = sum(q.usage_bytes(conn, tenant_id).values())
        used += checkpoints_db.usage_bytes(conn, tenant_id)
        if quota is not None and used + extra > quota:
            raise QuotaExceeded(
                f"storage quota exceeded: {used} bytes used + {extra} new > {quota} bytes",
                details={"quota_bytes": quota, "used_bytes": used, "requested_bytes": extra},
            )

    def quota_refused(self, actor: Actor, tenant_id: str | None, exc: QuotaExceeded) -> None:
        """Record the refusal (event + audit) in its own transaction; the caller re-raises."""
        with self.db.write() as conn:
            events.emit(
                conn, "quota.exceeded", tenant_id=tenant_id, data={"kind": "storage", **exc.details}
            )
            record(
                conn,
                actor,
                "quota.exceeded",
                "tenant",
                tenant_id,
                tenant_id=tenant_id,
                outcome="denied",
                details=exc.details,
            )

    # -- jobs --------------------------------------------------------------------------------

    def resolve_input(
        self,
        conn: Connection,
        tenant_id: str,
        dataset_id: str,
        version: int | None,
        algorithm: str | None,
    ) -> ResolvedInput:
        """A committed version the tenant may train on: its own, or a platform dataset it holds
        an unexpired, unrevoked grant for that covers `algorithm`. Anything else is NotFound."""
        ds = q.get_dataset(conn, Scope.everything(), dataset_id)
        if ds.kind is DatasetKind.PLATFORM:
            now = utcnow()
            grants = grants_q.tenant_grants(conn, tenant_id, ds.id)
            if not any(g.active(now) for g in grants):
                raise NotFound(f"dataset {dataset_id!r} not found")
            if not any(g.allows(algorithm, now) for g in grants):
                raise Forbidden(
                    f"the grant for dataset {dataset_id!r} does not cover algorithm {algorithm!r}",
                    code="grant_excludes_algorithm",
                )
        elif ds.tenant_id != tenant_id:
            raise NotFound(f"dataset {dataset_id!r} not found")
        v = q.get_committed(conn, ds.id, version)
        files = q.session_files(conn, v.id)
        entries = tuple(
            ManifestEntry(f.path, f.size or 0, f.sha256 or "", f.content_type, f.object_key)
            for f in files
        )
        return ResolvedInput(ds.id, v.id, v.number, ds.kind, v.digest or "", entries)

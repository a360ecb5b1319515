"""Platform datasets as tenants see them (granted ones only: metadata, never files or bytes) and
the grants that platform admins create and revoke.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from forgeml.db import datasets as q
from forgeml.db import grants as grants_q
from forgeml.db import identity as idq
from forgeml.db.engine import Database
from forgeml.db.pagination import Page
from forgeml.db.scope import Scope
from forgeml.db.types import utcnow
from forgeml.domain.authz import Perm, require
from forgeml.domain.datasets import Dataset, DatasetKind, DatasetVersion, Grant
from forgeml.domain.errors import InvalidInput, NotFound
from forgeml.domain.ids import new_id
from forgeml.services.identity.audit import Actor, record


@dataclass(frozen=True)
class PlatformView:
    dataset: Dataset
    versions: list[DatasetVersion]
    grants: list[Grant]  # the caller's active grants (all active grants for platform admins)

    @property
    def size_bytes(self) -> int:
        return self.versions[-1].size_bytes if self.versions else 0


class GrantService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _granted_ids(self, actor: Actor) -> dict[str, list[Grant]] | None:
        """Dataset id -> active grants of the caller's tenant; None for platform admins (all)."""
        if actor.p.is_platform_admin:
            return None
        if actor.p.tenant_id is None:
            return {}
        now = utcnow()
        with self.db.read() as conn:
            grants = [g for g in grants_q.tenant_grants(conn, actor.p.tenant_id) if g.active(now)]
        out: dict[str, list[Grant]] = {}
        for g in grants:
            out.setdefault(g.dataset_id, []).append(g)
        return out

    def list_platform(self, actor: Actor, *, cursor: str | None, limit: int) -> Page[PlatformView]:
        require(actor.p, Perm.DATA_READ)
        granted = self._granted_ids(actor)
        with self.db.read() as conn:
            page = q.list_datasets(
                conn,
                Scope.everything(),
                kind=DatasetKind.PLATFORM.value,
                ids=None if granted is None else list(granted),
                cursor=cursor,
                limit=limit,
            )
            views = [self._view(conn, ds, granted) for ds in page.items]
        return Page(items=views, next_cursor=page.next_cursor)

    def get_platform(self, actor: Actor, dataset_id: str) -> PlatformView:
        granted = self._granted_ids(actor)
        with self.db.read() as conn:
            ds = q.find_platform_dataset(conn, dataset_id)
            if ds is None or (granted is not None and ds.id not in granted):
                raise NotFound(f"platform dataset {dataset_id!r} not found")
            require(actor.p, Perm.DATA_READ)
            return self._view(conn, ds, granted)

    def _view(
        self, conn: Connection, ds: Dataset, granted: dict[str, list[Grant]] | None
    ) -> PlatformView:
        versions = q.committed_versions(conn, [ds.id])
        if granted is None:
            now = utcnow()
            page = grants_q.list_grants(
                conn,
                Scope.everything(),
                dataset_id=ds.id,
                tenant_id=None,
                cursor=None,
                limit=200,
            )
            grants = [g for g in page.items if g.active(now)]
        else:
            grants = granted.get(ds.id, [])
        return PlatformView(ds, versions, grants)

    # -- grants ------------------------------------------------------------------------------

    def create(
        self,
        actor: Actor,
        *,
        dataset_id: str,
        tenant_id: str,
        algorithms: list[str] | None,
        expires_at: datetime | None,
    ) -> Grant:
        require(actor.p, Perm.PLATFORM_MANAGE)
        if expires_at is not None and expires_at <= utcnow():
            raise InvalidInput.fields([{"loc": "expires_at", "msg": "must be in the future"}])
        with self.db.write() as conn:
            if q.find_platform_dataset(conn, dataset_id) is None:
                raise NotFound(f"platform dataset {dataset_id!r} not found")
            idq.get_tenant(conn, Scope.everything(), tenant_id)
            grant = grants_q.insert_grant(
                conn,
                {
                    "id": new_id("grt"),
                    "dataset_id": dataset_id,
                    "tenant_id": tenant_id,
                    "algorithms": sorted(set(algorithms)) if algorithms is not None else None,
                    "expires_at": expires_at,
                    "created_at": utcnow(),
                    "revoked_at": None,
                },
            )
            record(
                conn,
                actor,
                "grant.create",
                "grant",
                grant.id,
                tenant_id=tenant_id,
                details={"dataset_id": dataset_id, "algorithms": algorithms},
            )
        return grant

    def list(
        self,
        actor: Actor,
        *,
        dataset_id: str | None,
        tenant_id: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page[Grant]:
        require(actor.p, Perm.DATA_READ)
        with self.db.read() as conn:
            return grants_q.list_grants(
                conn,
                Scope.of(actor.p),
                dataset_id=dataset_id,
                tenant_id=tenant_id,
                cursor=cursor,
                limit=limit,
            )

    def get(self, actor: Actor, grant_id: str) -> Grant:
        with self.db.read() as conn:
            grant = grants_q.get_grant(conn, Scope.of(actor.p), grant_id)
        require(actor.p, Perm.DATA_READ)
        return grant

    def revoke(self, actor: Actor, grant_id: str) -> Grant:
        scope = Scope.of(actor.p)
        with self.db.read() as conn:
            grants_q.get_grant(conn, scope, grant_id)  # 404 before 403
        require(actor.p, Perm.PLATFORM_MANAGE)
        with self.db.write() as conn:
            grants_q.revoke_grant(conn, grant_id, utcnow())
            grant = grants_q.get_grant(conn, scope, grant_id)
            record(conn, actor, "grant.revoke", "grant", grant_id, tenant_id=grant.tenant_id)
        return grant

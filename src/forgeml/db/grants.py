"""Table and queries of platform-dataset grants: which tenant may train on which platform dataset,
for which algorithms, until when. Revoked grants stay as history (`revoked_at`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from forgeml.db import columns as col
from forgeml.db.pagination import Page, paginate
from forgeml.db.rows import from_row, one_by_id, where_given
from forgeml.db.scope import Scope, scoped
from forgeml.db.tables import entity
from forgeml.domain.datasets import Grant

dataset_grants = entity(
    "dataset_grants",
    col.reference("dataset_id", "datasets", index=True),
    col.tenant_column(nullable=False),
    col.typed("algorithms", sa.JSON, nullable=True),
    col.timestamp("expires_at", nullable=True),
    col.timestamp("created_at"),
    col.timestamp("revoked_at", nullable=True),
)


def _grant(r: RowMapping) -> Grant:
    return from_row(Grant, r, algorithms=lambda algos: None if algos is None else tuple(algos))


def insert_grant(conn: Connection, values: dict[str, Any]) -> Grant:
    conn.execute(dataset_grants.insert().values(**values))
    return get_grant(conn, Scope.everything(), values["id"])


def get_grant(conn: Connection, scope: Scope, grant_id: str) -> Grant:
    return one_by_id(conn, scope, dataset_grants, grant_id, _grant, f"grant {grant_id!r} not found")


def list_grants(
    conn: Connection,
    scope: Scope,
    *,
    dataset_id: str | None,
    tenant_id: str | None,
    cursor: str | None,
    limit: int,
) -> Page[Grant]:
    stmt = where_given(
        scoped(sa.select(dataset_grants), dataset_grants, scope),
        (dataset_grants.c.dataset_id, dataset_id),
        (dataset_grants.c.tenant_id, tenant_id),
    )
    return paginate(conn, stmt, dataset_grants.c.id, _grant, cursor=cursor, limit=limit)


def tenant_grants(conn: Connection, tenant_id: str, dataset_id: str | None = None) -> list[Grant]:
    """Every unrevoked grant of a tenant (expiry is checked by the caller against one `now`)."""
    stmt = sa.select(dataset_grants).where(
        dataset_grants.c.tenant_id == tenant_id, dataset_grants.c.revoked_at.is_(None)
    )
    if dataset_id:
        stmt = stmt.where(dataset_grants.c.dataset_id == dataset_id)
    return [_grant(r) for r in conn.execute(stmt).mappings().all()]


def revoke_grant(conn: Connection, grant_id: str, at: datetime) -> None:
    stmt = (
        dataset_grants.update()
        .where(dataset_grants.c.id == grant_id, dataset_grants.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    conn.execute(stmt)

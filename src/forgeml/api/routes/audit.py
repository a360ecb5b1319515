"""The audit log: platform admins read everything, tenant admins their own tenant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query

from forgeml.api.deps import CurrentActor, IdQuery, Paging, Svc
from forgeml.api.routing import Routes
from forgeml.api.schemas import AuditOut, PageOut, Timestamp, page_of
from forgeml.domain.filters import AuditFilter

api = Routes("/audit", tags=["audit"], errors=(401, 403))
router = api.router


@api.route("GET", "audit.list", PageOut[AuditOut], errors=(422,))
def list_audit(
    actor: CurrentActor,
    svc: Svc,
    page: Paging,
    action: Annotated[
        str | None, Query(max_length=100, description="exact, or a family like user.*")
    ] = None,
    actor_id: Annotated[str | None, Query(max_length=64)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[str | None, Query(pattern="^(success|failure|denied)$")] = None,
    tenant_id: IdQuery = None,
    since: Timestamp | None = None,
    until: Timestamp | None = None,
) -> PageOut[AuditOut]:
    flt = AuditFilter(
        action=action,
        actor_id=actor_id,
        target_id=target_id,
        outcome=outcome,
        tenant_id=tenant_id,
        since=_utc(since),
        until=_utc(until),
    )
    res = svc.audit.list(actor, flt, cursor=page.cursor, limit=page.limit)
    return page_of(AuditOut.model_validate, res)


def _utc(value: datetime | None) -> datetime | None:
    """Times without an offset are read as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)

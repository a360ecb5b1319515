"""Tenants: platform admins create, rename, suspend; tenant principals see their own only."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from forgeml.api.deps import CurrentActor, Paging, Svc
from forgeml.api.routing import Routes
from forgeml.api.schemas import PageOut, TenantCreate, TenantOut, TenantUpdate, page_of
from forgeml.domain.identity import TenantStatus

api = Routes("/tenants", tags=["tenants"], errors=(401, 403), ids={"tenant_id": "tenant"})
router = api.router


@api.route("POST", "tenant.create", TenantOut, status=201, errors=(409, 422))
def create_tenant(body: TenantCreate, actor: CurrentActor, svc: Svc) -> TenantOut:
    t = svc.tenants.create(actor, body.name, body.display_name, body.storage_quota_bytes)
    return TenantOut.model_validate(t)


@api.route("GET", "tenant.list", PageOut[TenantOut], errors=(422,))
def list_tenants(
    actor: CurrentActor,
    svc: Svc,
    page: Paging,
    status: Annotated[TenantStatus | None, Query()] = None,
) -> PageOut[TenantOut]:
    res = svc.tenants.list(
        actor, status=status.value if status else None, cursor=page.cursor, limit=page.limit
    )
    return page_of(TenantOut.model_validate, res)


@api.route("GET /{tenant_id}", "tenant.get", TenantOut, errors=(404,))
def get_tenant(tenant_id: str, actor: CurrentActor, svc: Svc) -> TenantOut:
    return TenantOut.model_validate(svc.tenants.get(actor, tenant_id))


@api.route("PATCH /{tenant_id}", "tenant.update", TenantOut, errors=(404, 409, 422))
def update_tenant(tenant_id: str, body: TenantUpdate, actor: CurrentActor, svc: Svc) -> TenantOut:
    changes = body.model_dump(exclude_unset=True)
    return TenantOut.model_validate(svc.tenants.update(actor, tenant_id, changes))


@api.route("POST /{tenant_id}/suspend", "tenant.suspend", TenantOut, errors=(404,))
def suspend_tenant(tenant_id: str, actor: CurrentActor, svc: Svc) -> TenantOut:
    """Suspend: every credential of the tenant's users stops working at once."""
    return TenantOut.model_validate(svc.tenants.update(actor, tenant_id, {"status": "suspended"}))


@api.route("POST /{tenant_id}/resume", "tenant.resume", TenantOut, errors=(404,))
def resume_tenant(tenant_id: str, actor: CurrentActor, svc: Svc) -> TenantOut:
    return TenantOut.model_validate(svc.tenants.update(actor, tenant_id, {"status": "active"}))

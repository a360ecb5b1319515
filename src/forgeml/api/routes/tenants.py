"""Tenants: platform admins create, rename, suspend; tenant principals see their own only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from forgeml.api.deps import CurrentActor, Paging, Svc, resources
from forgeml.api.errors import responses
from forgeml.api.schemas import PageOut, TenantCreate, TenantOut, TenantUpdate, page_of
from forgeml.domain.identity import TenantStatus

router = APIRouter(prefix="/tenants", tags=["tenants"])


@router.post(
    "",
    name="tenant.create",
    status_code=201,
    response_model=TenantOut,
    responses=responses(401, 403, 409, 422),
)
def create_tenant(body: TenantCreate, actor: CurrentActor, svc: Svc) -> TenantOut:
    t = svc.tenants.create(actor, body.name, body.display_name, body.storage_quota_bytes)
    return TenantOut.model_validate(t)


@router.get(
    "", name="tenant.list", response_model=PageOut[TenantOut], responses=responses(401, 403, 422)
)
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


@router.get(
    "/{tenant_id}",
    name="tenant.get",
    response_model=TenantOut,
    responses=responses(401, 403, 404),
    openapi_extra=resources(tenant_id="tenant"),
)
def get_tenant(tenant_id: str, actor: CurrentActor, svc: Svc) -> TenantOut:
    return TenantOut.model_validate(svc.tenants.get(actor, tenant_id))


@router.patch(
    "/{tenant_id}",
    name="tenant.update",
    response_model=TenantOut,
    responses=responses(401, 403, 404, 409, 422),
    openapi_extra=resources(tenant_id="tenant"),
)
def update_tenant(tenant_id: str, body: TenantUpdate, actor: CurrentActor, svc: Svc) -> TenantOut:
    changes = body.model_dump(exclude_unset=True)
    return TenantOut.model_validate(svc.tenants.update(actor, tenant_id, changes))


@router.post(
    "/{tenant_id}/suspend",
    name="tenant.suspend",
    response_model=TenantOut,
    responses=responses(401, 403, 404),
    openapi_extra=resources(tenant_id="tenant"),
)
def suspend_tenant(tenant_id: str, actor: CurrentActor, svc: Svc) -> TenantOut:
    """Suspend: every credential of the tenant's users stops working at once."""
    return TenantOut.model_validate(svc.tenants.update(actor, tenant_id, {"status": "suspended"}))


@router.post(
    "/{tenant_id}/resume",
    name="tenant.resume",
    response_model=TenantOut,
    responses=responses(401, 403, 404),
    openapi_extra=resources(tenant_id="tenant"),
)
def resume_tenant(tenant_id: str, actor: CurrentActor, svc: Svc) -> TenantOut:
    return TenantOut.model_validate(svc.tenants.update(actor, tenant_id, {"status": "active"}))

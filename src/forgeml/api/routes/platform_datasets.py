"""Platform datasets as tenants see them (granted, metadata only) and grants (platform admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from forgeml.api.dataset_schemas import (
    GrantCreate,
    GrantOut,
    PlatformDatasetOut,
    PlatformVersionOut,
)
from forgeml.api.deps import CurrentActor, Paging, Svc, resources
from forgeml.api.errors import responses
from forgeml.api.schemas import PageOut, page_of
from forgeml.services.datasets.grants import PlatformView

router = APIRouter(tags=["platform datasets"])


def view_out(v: PlatformView) -> PlatformDatasetOut:
    ds = v.dataset
    return PlatformDatasetOut(
        id=ds.id,
        name=ds.name,
        description=ds.description,
        schema_notes=ds.schema_notes,
        size_bytes=v.size_bytes,
        versions=[
            PlatformVersionOut(
                number=x.number,
                size_bytes=x.size_bytes,
                file_count=x.file_count,
                committed_at=x.committed_at,
            )
            for x in v.versions
        ],
        grants=[GrantOut.model_validate(g) for g in v.grants],
    )


@router.get(
    "/platform-datasets",
    name="platform_dataset.list",
    response_model=PageOut[PlatformDatasetOut],
    responses=responses(401, 403, 422),
)
def list_platform(actor: CurrentActor, svc: Svc, page: Paging) -> PageOut[PlatformDatasetOut]:
    res = svc.datasets.grants.list_platform(actor, cursor=page.cursor, limit=page.limit)
    return page_of(view_out, res)


@router.get(
    "/platform-datasets/{dataset_id}",
    name="platform_dataset.get",
    response_model=PlatformDatasetOut,
    responses=responses(401, 403, 404),
    openapi_extra=resources(dataset_id="platform_dataset"),
)
def get_platform(dataset_id: str, actor: CurrentActor, svc: Svc) -> PlatformDatasetOut:
    return view_out(svc.datasets.grants.get_platform(actor, dataset_id))


@router.post(
    "/grants",
    name="grant.create",
    status_code=201,
    response_model=GrantOut,
    responses=responses(401, 403, 404, 422),
)
def create_grant(body: GrantCreate, actor: CurrentActor, svc: Svc) -> GrantOut:
    grant = svc.datasets.grants.create(
        actor,
        dataset_id=body.dataset_id,
        tenant_id=body.tenant_id,
        algorithms=body.algorithms,
        expires_at=body.expires_at,
    )
    return GrantOut.model_validate(grant)


@router.get(
    "/grants",
    name="grant.list",
    response_model=PageOut[GrantOut],
    responses=responses(401, 403, 422),
)
def list_grants(
    actor: CurrentActor,
    svc: Svc,
    page: Paging,
    dataset_id: Annotated[str | None, Query(max_length=32)] = None,
    tenant_id: Annotated[str | None, Query(max_length=32)] = None,
) -> PageOut[GrantOut]:
    res = svc.datasets.grants.list(
        actor, dataset_id=dataset_id, tenant_id=tenant_id, cursor=page.cursor, limit=page.limit
    )
    return page_of(GrantOut.model_validate, res)


@router.get(
    "/grants/{grant_id}",
    name="grant.get",
    response_model=GrantOut,
    responses=responses(401, 403, 404),
    openapi_extra=resources(grant_id="grant"),
)
def get_grant(grant_id: str, actor: CurrentActor, svc: Svc) -> GrantOut:
    return GrantOut.model_validate(svc.datasets.grants.get(actor, grant_id))


@router.delete(
    "/grants/{grant_id}",
    name="grant.revoke",
    response_model=GrantOut,
    responses=responses(401, 403, 404),
    openapi_extra=resources(grant_id="grant"),
)
def revoke_grant(grant_id: str, actor: CurrentActor, svc: Svc) -> GrantOut:
    return GrantOut.model_validate(svc.datasets.grants.revoke(actor, grant_id))

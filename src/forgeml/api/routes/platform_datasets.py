"""Platform datasets as tenants see them (granted, metadata only) and grants (platform admins)."""

from __future__ import annotations

from forgeml.api.dataset_schemas import (
    GrantCreate,
    GrantOut,
    PlatformDatasetOut,
    PlatformVersionOut,
)
from forgeml.api.deps import CurrentActor, IdQuery, Paging, Svc
from forgeml.api.routing import Routes
from forgeml.api.schemas import PageOut, page_of
from forgeml.services.datasets.grants import PlatformView

api = Routes(
    tags=["platform datasets"],
    errors=(401, 403),
    ids={"dataset_id": "platform_dataset", "grant_id": "grant"},
)
router = api.router


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


@api.route(
    "GET /platform-datasets", "platform_dataset.list", PageOut[PlatformDatasetOut], errors=(422,)
)
def list_platform(actor: CurrentActor, svc: Svc, page: Paging) -> PageOut[PlatformDatasetOut]:
    res = svc.datasets.grants.list_platform(actor, cursor=page.cursor, limit=page.limit)
    return page_of(view_out, res)


@api.route(
    "GET /platform-datasets/{dataset_id}", "platform_dataset.get", PlatformDatasetOut, errors=(404,)
)
def get_platform(dataset_id: str, actor: CurrentActor, svc: Svc) -> PlatformDatasetOut:
    return view_out(svc.datasets.grants.get_platform(actor, dataset_id))


@api.route("POST /grants", "grant.create", GrantOut, status=201, errors=(404, 422))
def create_grant(body: GrantCreate, actor: CurrentActor, svc: Svc) -> GrantOut:
    grant = svc.datasets.grants.create(
        actor,
        dataset_id=body.dataset_id,
        tenant_id=body.tenant_id,
        algorithms=body.algorithms,
        expires_at=body.expires_at,
    )
    return GrantOut.model_validate(grant)


@api.route("GET /grants", "grant.list", PageOut[GrantOut], errors=(422,))
def list_grants(
    actor: CurrentActor,
    svc: Svc,
    page: Paging,
    dataset_id: IdQuery = None,
    tenant_id: IdQuery = None,
) -> PageOut[GrantOut]:
    res = svc.datasets.grants.list(
        actor, dataset_id=dataset_id, tenant_id=tenant_id, cursor=page.cursor, limit=page.limit
    )
    return page_of(GrantOut.model_validate, res)


@api.route("GET /grants/{grant_id}", "grant.get", GrantOut, errors=(404,))
def get_grant(grant_id: str, actor: CurrentActor, svc: Svc) -> GrantOut:
    return GrantOut.model_validate(svc.datasets.grants.get(actor, grant_id))


@api.route("DELETE /grants/{grant_id}", "grant.revoke", GrantOut, errors=(404,))
def revoke_grant(grant_id: str, actor: CurrentActor, svc: Svc) -> GrantOut:
    return GrantOut.model_validate(svc.datasets.grants.revoke(actor, grant_id))

"""Admin: platform datasets (create, upload, versions) and grants to tenants."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import Response

from forgeml.domain.errors import InvalidInput, NotFound
from forgeml.web import dataset_pages
from forgeml.web.admin_pages import admin_only
from forgeml.web.core import Page, PortalRoute, redirect

router = APIRouter(route_class=PortalRoute, prefix="/admin")
BASE = "/admin/datasets"


@router.get("/datasets", name="portal.admin.datasets")
def datasets(ctx: Page) -> Response:
    admin_only(ctx)
    return dataset_pages.list_page(ctx)


@router.post("/datasets", name="portal.admin.dataset_create")
def dataset_create(ctx: Page) -> Response:
    return dataset_pages.create(ctx, BASE)


@router.get("/datasets/{dataset_id}", name="portal.admin.dataset")
def dataset(dataset_id: str, ctx: Page) -> Response:
    admin_only(ctx)
    return dataset_pages.detail(ctx, dataset_id, BASE)


@router.get("/datasets/{dataset_id}/versions/{number}", name="portal.admin.dataset_version")
def dataset_version(dataset_id: str, number: str, ctx: Page) -> Response:
    admin_only(ctx)
    if not number.isdigit():
        raise NotFound("no such version")
    return dataset_pages.version_page(ctx, dataset_id, int(number), BASE)


@router.post("/datasets/{dataset_id}/delete", name="portal.admin.dataset_delete")
def dataset_delete(dataset_id: str, ctx: Page) -> Response:
    return dataset_pages.delete(ctx, dataset_id, BASE)


@router.post("/grants", name="portal.admin.grant_create")
def grant_create(ctx: Page) -> Response:
    dataset_id = ctx.field("dataset_id")
    back = f"{BASE}/{dataset_id}#grants"
    names = [a.strip() for a in ctx.field("algorithms").split(",") if a.strip()]
    try:
        expires = ctx.field("expires_on")
        expires_at = datetime.fromisoformat(expires).replace(tzinfo=UTC) if expires else None
    except ValueError:
        return redirect(back, "Not granted: the expiry must be a date.", "bad")
    if not ctx.field("tenant_id"):
        return redirect(back, "Not granted: choose a tenant.", "bad")
    try:
        ctx.svc.datasets.grants.create(
            ctx.actor,
            dataset_id=dataset_id,
            tenant_id=ctx.field("tenant_id"),
            algorithms=names or None,
            expires_at=expires_at,
        )
    except InvalidInput as exc:
        return redirect(back, f"Not granted: {exc.message}", "bad")
    return redirect(back, "Grant created.")


@router.post("/grants/{grant_id}/revoke", name="portal.admin.grant_revoke")
def grant_revoke(grant_id: str, ctx: Page) -> Response:
    grant = ctx.svc.datasets.grants.revoke(ctx.actor, grant_id)
    return redirect(f"{BASE}/{grant.dataset_id}#grants", "Grant revoked.")

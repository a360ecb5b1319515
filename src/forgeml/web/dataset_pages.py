"""Datasets: list and create, a dataset with its versions and the browser upload, a version's
manifest with downloads, and the platform datasets granted to the tenant (cards, no download).

Uploads run in the browser (static/upload.js) against the datasets API with the session cookie
and the CSRF header; pages here only read and create through the datasets service.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from forgeml.domain.datasets import DatasetKind
from forgeml.domain.errors import Conflict, InvalidInput, NotFound
from forgeml.web.core import Ctx, Page, PortalRoute, field_errors, redirect, service

router = APIRouter(route_class=PortalRoute)


def _usage(ctx: Ctx) -> object | None:
    if ctx.is_admin:
        return None
    return ctx.svc.datasets.usage(ctx.actor)


def list_page(ctx: Ctx, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    if service(ctx.svc, "datasets") is None:
        return ctx.render("soon.html", area="Datasets")
    kind = DatasetKind.PLATFORM if ctx.is_admin else DatasetKind.TENANT
    cursor = ctx.request.query_params.get("cursor") or None
    page = ctx.svc.datasets.list(ctx.actor, kind=kind, cursor=cursor, limit=50)
    latest = {}
    for ds in page.items:
        versions = ctx.svc.datasets.versions(ctx.actor, ds.id, cursor=None, limit=1).items
        latest[ds.id] = versions[0] if versions else None
    return ctx.render(
        "tenant/datasets.html",
        status,
        datasets=page,
        latest=latest,
        usage=_usage(ctx),
        errors=errors or {},
        base="/admin/datasets" if ctx.is_admin else "/datasets",
    )


@router.get("/datasets", name="portal.datasets")
def datasets(ctx: Page) -> Response:
    if ctx.is_admin:
        return redirect("/admin/datasets")
    return list_page(ctx)


def create(ctx: Ctx, base: str) -> Response:
    kind = DatasetKind.PLATFORM if ctx.is_admin else DatasetKind.TENANT
    try:
        ds = ctx.svc.datasets.create(
            ctx.actor,
            name=ctx.field("name"),
            kind=kind,
            description=ctx.field("description")[:4000],
            schema_notes=ctx.field("schema_notes")[:4000],
        )
    except InvalidInput as exc:
        return list_page(ctx, field_errors(exc), 422)
    return redirect(f"{base}/{ds.id}", f"Dataset {ds.name} created. Now upload its files.")


@router.post("/datasets", name="portal.dataset_create")
def dataset_create(ctx: Page) -> Response:
    return create(ctx, "/datasets")


def detail(ctx: Ctx, dataset_id: str, base: str) -> Response:
    ds, _latest = ctx.svc.datasets.get(ctx.actor, dataset_id)
    cursor = ctx.request.query_params.get("cursor") or None
    versions = ctx.svc.datasets.versions(ctx.actor, ds.id, cursor=cursor, limit=50)
    grants = None
    if ctx.is_admin:
        grants = ctx.svc.datasets.grants.list(
            ctx.actor, dataset_id=ds.id, tenant_id=None, cursor=None, limit=200
        ).items
    return ctx.render(
        "tenant/dataset.html",
        ds=ds,
        versions=versions,
        usage=_usage(ctx),
        base=base,
        grants=grants,
        tenants=_tenants(ctx) if ctx.is_admin else [],
    )


def _tenants(ctx: Ctx) -> list[object]:
    return list(ctx.svc.tenants.list(ctx.actor, status=None, cursor=None, limit=200).items)


@router.get("/datasets/{dataset_id}", name="portal.dataset")
def dataset(dataset_id: str, ctx: Page) -> Response:
    return detail(ctx, dataset_id, "/datasets")


def version_page(ctx: Ctx, dataset_id: str, number: int, base: str) -> Response:
    ds, _ = ctx.svc.datasets.get(ctx.actor, dataset_id)
    version = ctx.svc.datasets.version(ctx.actor, ds.id, number)
    cursor = ctx.request.query_params.get("cursor") or None
    files = ctx.svc.datasets.downloads.files(ctx.actor, ds.id, number, cursor=cursor, limit=200)
    preview = ctx.svc.datasets.previews.preview(ctx.actor, ds.id, number)
    return ctx.render(
        "tenant/dataset_version.html",
        ds=ds,
        version=version,
        files=files,
        base=base,
        preview=preview,
    )


@router.get("/datasets/{dataset_id}/versions/{number}", name="portal.dataset_version")
def dataset_version(dataset_id: str, number: str, ctx: Page) -> Response:
    if not number.isdigit():
        raise NotFound("no such version")
    return version_page(ctx, dataset_id, int(number), "/datasets")


def delete(ctx: Ctx, dataset_id: str, base: str) -> Response:
    ds, _ = ctx.svc.datasets.get(ctx.actor, dataset_id)
    try:
        ctx.svc.datasets.delete(ctx.actor, ds.id)
    except Conflict as exc:
        return redirect(f"{base}/{ds.id}", f"Not deleted: {exc.message}", "bad")
    return redirect(base, f"Dataset {ds.name} deleted.")


@router.post("/datasets/{dataset_id}/delete", name="portal.dataset_delete")
def dataset_delete(dataset_id: str, ctx: Page) -> Response:
    return delete(ctx, dataset_id, "/datasets")


@router.get("/platform-datasets", name="portal.platform_datasets")
def platform_datasets(ctx: Page) -> Response:
    if service(ctx.svc, "datasets") is None:
        return ctx.render("soon.html", area="Platform datasets")
    if ctx.is_admin:
        return redirect("/admin/datasets")
    cursor = ctx.request.query_params.get("cursor") or None
    views = ctx.svc.datasets.grants.list_platform(ctx.actor, cursor=cursor, limit=50)
    previews = ctx.svc.datasets.previews
    schemas = {v.dataset.id: previews.schema(ctx.actor, v.dataset.id) for v in views.items}
    return ctx.render("tenant/platform_datasets.html", views=views, schemas=schemas)

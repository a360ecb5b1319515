"""Admin: resource classes, runners and the queue; usage per tenant (storage and compute)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from forgeml.domain.errors import InvalidInput
from forgeml.web.admin_pages import admin_only
from forgeml.web.core import Ctx, Page, PortalRoute, available, field_errors, redirect, service
from forgeml.web.home_pages import class_prices, compute_and_cost_since, job_cost, month_start

router = APIRouter(route_class=PortalRoute, prefix="/admin")
GIB = 1024**3


def _resources_page(ctx: Ctx, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    scheduling = service(ctx.svc, "scheduling")
    if scheduling is None:
        return ctx.render("soon.html", area="Resource classes, runners and queue")
    overview = scheduling.overview(ctx.actor)
    return ctx.render(
        "admin/resources.html",
        status,
        classes=scheduling.list_classes(ctx.actor),
        overview=overview,
        errors=errors or {},
        gib=GIB,
    )


@router.get("/resources", name="portal.admin.resources")
def resources(ctx: Page) -> Response:
    admin_only(ctx)
    return _resources_page(ctx)


def _number(ctx: Ctx, name: str, cast: Any, lo: float, errors: dict[str, str]) -> Any:
    try:
        value = cast(ctx.field(name))
        if value < lo:
            raise ValueError
        return value
    except ValueError:
        errors[name] = f"a number, at least {lo:g}"
        return None


@router.post("/resources", name="portal.admin.resource_put")
def resource_put(ctx: Page) -> Response:
    admin_only(ctx)
    errors: dict[str, str] = {}
    values = {
        "name": ctx.field("name"),
        "description": ctx.field("description")[:500],
        "cpus": _number(ctx, "cpus", int, 1, errors),
        "memory_bytes": None,
        "gpus": _number(ctx, "gpus", int, 0, errors),
        "max_volume_gb": _number(ctx, "max_volume_gb", int, 1, errors),
        "price_per_hour": _number(ctx, "price_per_hour", float, 0, errors),
        "enabled": ctx.field("enabled") == "on",
        "instance_type": ctx.field("instance_type").strip() or None,
    }
    memory = _number(ctx, "memory_gib", float, 0.125, errors)
    if errors:
        return _resources_page(ctx, errors, 422)
    values["memory_bytes"] = int(memory * GIB)
    try:
        service(ctx.svc, "scheduling").put_class(ctx.actor, values)  # type: ignore[union-attr]
    except InvalidInput as exc:
        return _resources_page(ctx, field_errors(exc), 422)
    return redirect("/admin/resources", f"Resource class {values['name']} saved.")


@router.get("/usage", name="portal.admin.usage")
def usage(ctx: Page) -> Response:
    admin_only(ctx)
    tenants = ctx.svc.tenants.list(ctx.actor, status=None, cursor=None, limit=200).items
    areas = available(ctx.svc)
    storage = {}
    if areas["datasets"]:
        storage = {t.id: ctx.svc.datasets.usage(ctx.actor, t.id) for t in tenants}
    compute = compute_and_cost_since(ctx, month_start()) if areas["jobs"] else {}
    from forgeml.web.usage_pages import admin_usage_chart

    return ctx.render(
        "admin/usage.html", tenants=tenants, storage=storage, compute=compute, areas=areas,
        quotas={t.id: ctx.svc.quotas.get(ctx.actor, t.id) for t in tenants},
        chart=admin_usage_chart(ctx, {t.id: t.name for t in tenants}),
    )  # fmt: skip


@router.get("/jobs", name="portal.admin.jobs")
def jobs(ctx: Page) -> Response:
    """Every tenant's jobs, newest first, with the tenant named."""
    admin_only(ctx)
    if not available(ctx.svc)["jobs"]:
        return ctx.render("soon.html", area="Jobs")
    from forgeml.domain.filters import JobFilter

    page = ctx.svc.jobs.list(
        ctx.actor, JobFilter(), cursor=ctx.request.query_params.get("cursor"), limit=50
    )
    tenants = ctx.svc.tenants.list(ctx.actor, status=None, cursor=None, limit=200).items
    names = {t.id: t.name for t in tenants}
    prices = class_prices(ctx)
    costs = {j.id: job_cost(j, prices) for j in page.items}
    return ctx.render("admin/jobs.html", jobs=page, tenant_names=names, costs=costs, params={})

"""Usage and quotas in the portal: a tenant's usage page (money per month, class and tag, its
quotas and budget), the admin's quota editor and the admin usage chart per tenant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from forgeml.domain.errors import InvalidInput
from forgeml.domain.quotas import month_of
from forgeml.web.admin_pages import admin_only
from forgeml.web.charts import money_bars
from forgeml.web.core import Ctx, Page, PortalRoute, field_errors, redirect

router = APIRouter(route_class=PortalRoute)


def _lines(ctx: Ctx, tenant_id: str | None, group_by: str, month: str | None = None) -> Any:
    return ctx.svc.usage.report(ctx.actor, tenant_id=tenant_id, month=month, group_by=group_by)


@router.get("/usage", name="portal.usage")
def tenant_usage(ctx: Page) -> Response:
    if ctx.is_admin:
        return redirect("/admin/usage")
    tenant_id = ctx.actor.p.tenant_id
    assert tenant_id is not None
    month = month_of(datetime.now(UTC))
    quota = ctx.svc.quotas.get(ctx.actor, tenant_id)
    months = _lines(ctx, tenant_id, "month")[-12:]
    used = sum(x.amount for x in months if x.key == month)
    cur = ctx.svc.usage.currency
    bars = [(x.key, x.amount) for x in months]
    return ctx.render(
        "tenant/usage.html",
        quota=quota,
        month=month,
        used=used,
        months=months,
        chart=money_bars(bars, cur, quota.monthly_budget, "cost per month"),
        classes=_lines(ctx, tenant_id, "resource_class", month),
        tags=_lines(ctx, tenant_id, "tag", month),
        csv_url=f"/api/v1/tenants/{tenant_id}/usage/csv",
    )


def _quotas_page(ctx: Ctx, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    tenants = ctx.svc.tenants.list(ctx.actor, status=None, cursor=None, limit=200).items
    quotas = {t.id: ctx.svc.quotas.get(ctx.actor, t.id) for t in tenants}
    return ctx.render(
        "admin/quotas.html", status, tenants=tenants, quotas=quotas, errors=errors or {},
        classes=[rc.name for rc in ctx.svc.scheduling.list_classes(ctx.actor)],
    )  # fmt: skip


@router.get("/admin/quotas", name="portal.admin.quotas")
def admin_quotas(ctx: Page) -> Response:
    admin_only(ctx)
    return _quotas_page(ctx)


def _optional(ctx: Ctx, name: str, cast: Any, errors: dict[str, str]) -> Any:
    raw = ctx.field(name)
    if not raw:
        return None
    try:
        value = cast(raw)
    except ValueError:
        value = -1
    if value < 0:
        errors[name] = "a number, 0 or more (empty: no limit)"
    return value


def _form_changes(ctx: Ctx, classes: list[str], errors: dict[str, str]) -> dict[str, Any]:
    instances = {}
    for name in classes:
        n = _optional(ctx, f"class:{name}", int, errors)
        if n is not None:
            instances[name] = n
    return {
        "max_concurrent_jobs": _optional(ctx, "max_concurrent_jobs", int, errors),
        "monthly_budget": _optional(ctx, "monthly_budget", float, errors),
        "budget_hard_stop": ctx.field("budget_hard_stop") == "on",
        "class_instances": instances,
    }


@router.post("/admin/quotas/{tenant_id}", name="portal.admin.quota_put")
def admin_quota_put(tenant_id: str, ctx: Page) -> Response:
    admin_only(ctx)
    errors: dict[str, str] = {}
    classes = [rc.name for rc in ctx.svc.scheduling.list_classes(ctx.actor)]
    changes = _form_changes(ctx, classes, errors)
    if errors:
        return _quotas_page(ctx, errors, 422)
    try:
        ctx.svc.quotas.update(ctx.actor, tenant_id, changes)
    except InvalidInput as exc:
        return _quotas_page(ctx, field_errors(exc), 422)
    return redirect("/admin/quotas", "Quotas saved.")


def admin_usage_chart(ctx: Ctx, names: dict[str, str]) -> Any:
    """This month's cost per tenant as bars (the admin usage page)."""
    lines = _lines(ctx, None, "tenant", month_of(datetime.now(UTC)))
    bars = [(names.get(x.key, x.key), x.amount) for x in lines]
    return money_bars(bars, ctx.svc.usage.currency, None, "cost per tenant this month")

"""The start page: tenant dashboard (running, queued and recent jobs; storage against quota;
compute used this month)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from forgeml.web.core import Ctx, Page, PortalRoute, available, redirect, service

router = APIRouter(route_class=PortalRoute)
QUEUED = {"Pending", "Interrupted"}


def month_start() -> datetime:
    now = datetime.now(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def class_prices(ctx: Ctx) -> dict[str, float]:
    """Each resource class's price per instance-hour (in `jobs.currency`)."""
    scheduling = service(ctx.svc, "scheduling")
    if scheduling is None:
        return {}
    return {rc.name: rc.price_per_hour for rc in scheduling.list_classes(ctx.actor)}


def job_cost(job: Any, prices: dict[str, float]) -> float:
    return float(job.billable_seconds or 0) / 3600 * prices.get(job.resource_class, 0.0)


def compute_and_cost_since(
    ctx: Ctx, since: datetime, tenant_id: str | None = None
) -> dict[str, tuple[float, float]]:
    """(billable seconds, cost at the classes' hourly prices) per tenant since `since`."""
    from forgeml.domain.filters import JobFilter

    prices = class_prices(ctx)
    totals: dict[str, tuple[float, float]] = {}
    cursor = None
    for _ in range(100):  # at most 20,000 jobs a month are summed here
        page = ctx.svc.jobs.list(
            ctx.actor, JobFilter(created_after=since), cursor=cursor, limit=200
        )
        for j in page.items:
            if tenant_id is None or j.tenant_id == tenant_id:
                secs, cost = totals.get(j.tenant_id, (0.0, 0.0))
                billed = float(j.billable_seconds or 0)
                totals[j.tenant_id] = (secs + billed, cost + job_cost(j, prices))
        cursor = page.next_cursor
        if cursor is None:
            break
    return totals


def _jobs_overview(ctx: Ctx, tenant_id: str) -> dict[str, Any]:
    from forgeml.domain.filters import JobFilter

    active = ctx.svc.jobs.list(ctx.actor, JobFilter(status="InProgress"), cursor=None, limit=100)
    return {
        "running": [j for j in active.items if j.secondary_status not in QUEUED],
        "queued": [j for j in active.items if j.secondary_status in QUEUED],
        "recent": ctx.svc.jobs.list(ctx.actor, JobFilter(), cursor=None, limit=10).items,
        "compute": compute_and_cost_since(ctx, month_start(), tenant_id).get(tenant_id, (0, 0)),
    }


@router.get("/", name="portal.home")
def home(ctx: Page) -> Response:
    if ctx.is_admin:
        return redirect("/admin")
    p = ctx.actor.p
    assert p.tenant_id is not None
    tenant = ctx.svc.tenants.get(ctx.actor, p.tenant_id)
    areas = available(ctx.svc)
    usage = ctx.svc.datasets.usage(ctx.actor) if areas["datasets"] else None
    jobs = _jobs_overview(ctx, p.tenant_id) if areas["jobs"] else None
    return ctx.render("tenant/dashboard.html", tenant=tenant, areas=areas, usage=usage, jobs=jobs)

"""Tenant quotas (platform admins set them, a tenant reads its own) and usage reports in money
(a tenant sees its own usage, a platform admin every tenant's); CSV exports of the records."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from fastapi import Query
from fastapi.responses import Response

from forgeml.api.deps import CurrentActor, Svc
from forgeml.api.quota_schemas import QuotaOut, QuotaUpdate, UsageLineOut, UsageReportOut
from forgeml.api.routing import Routes
from forgeml.domain.quotas import Quota, UsageLine

api = Routes(tags=["usage"], errors=(401, 403), ids={"tenant_id": "tenant"})
router = api.router

Month = Annotated[str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2026-12"])]
GroupBy = Annotated[Literal["tenant", "month", "resource_class", "tag"], Query()]
QUOTA = "/tenants/{tenant_id}/quota"
USAGE = "/tenants/{tenant_id}/usage"


def _quota(svc: Svc, quota: Quota) -> QuotaOut:
    return QuotaOut.model_validate({**dataclasses.asdict(quota), "currency": svc.quotas.currency})


def _report(svc: Svc, lines: list[UsageLine], month: str | None, group_by: str) -> UsageReportOut:
    return UsageReportOut(
        group_by=group_by,
        month=month,
        currency=svc.usage.currency,
        # a job with two tags is in two tag lines: no total for those
        total=round(sum(x.amount for x in lines), 6) if group_by != "tag" else None,
        lines=[UsageLineOut.model_validate(x) for x in lines],
    )


@api.route(f"GET {QUOTA}", "tenant.quota_get", QuotaOut, errors=(404,))
def get_quota(tenant_id: str, actor: CurrentActor, svc: Svc) -> QuotaOut:
    return _quota(svc, svc.quotas.get(actor, tenant_id))


@api.route(f"PATCH {QUOTA}", "tenant.quota_update", QuotaOut, errors=(404, 422))
def update_quota(tenant_id: str, body: QuotaUpdate, actor: CurrentActor, svc: Svc) -> QuotaOut:
    """Platform admins only; absent fields stay, null lifts a limit."""
    changes = body.model_dump(exclude_unset=True)
    return _quota(svc, svc.quotas.update(actor, tenant_id, changes))


@api.route(f"GET {USAGE}", "tenant.usage", UsageReportOut, errors=(404, 422))
def tenant_usage(
    tenant_id: str, actor: CurrentActor, svc: Svc, month: Month = None, group_by: GroupBy = "month"
) -> UsageReportOut:
    lines = svc.usage.report(actor, tenant_id=tenant_id, month=month, group_by=group_by)
    return _report(svc, lines, month, group_by)


@api.route(
    f"GET {USAGE}/csv", "tenant.usage_csv", errors=(404, 422), media="text/csv",
    response_class=Response,
)  # fmt: skip
def tenant_usage_csv(
    tenant_id: str, actor: CurrentActor, svc: Svc, month: Month = None
) -> Response:
    return _csv(svc.usage.csv(actor, tenant_id=tenant_id, month=month), tenant_id, month)


@api.route("GET /usage", "usage.report", UsageReportOut, errors=(422,))
def usage_report(
    actor: CurrentActor, svc: Svc, month: Month = None, group_by: GroupBy = "tenant"
) -> UsageReportOut:
    """Every tenant the caller sees: a platform admin all, a tenant its own."""
    lines = svc.usage.report(actor, tenant_id=None, month=month, group_by=group_by)
    return _report(svc, lines, month, group_by)


@api.route("GET /usage/csv", "usage.csv", errors=(422,), media="text/csv", response_class=Response)
def usage_csv(actor: CurrentActor, svc: Svc, month: Month = None) -> Response:
    return _csv(svc.usage.csv(actor, tenant_id=None, month=month), "all", month)


def _csv(body: str, who: str, month: str | None) -> Response:
    name = f"usage-{who}-{month or 'all'}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type="text/csv", headers=headers)

"""Platform-admin pages: overview, tenants (create, rename, suspend/resume, quota), audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from forgeml.domain.errors import Forbidden, InvalidInput
from forgeml.domain.filters import AuditFilter
from forgeml.web.core import Ctx, Page, PortalRoute, available, field_errors, redirect

router = APIRouter(route_class=PortalRoute, prefix="/admin")
GIB = 1024**3


def admin_only(ctx: Ctx) -> None:
    if not ctx.is_admin:
        raise Forbidden("platform admins only")


def parse_quota(raw: str) -> int | None:
    """Quota typed in GiB (decimals allowed); empty means unlimited."""
    if not raw:
        return None
    try:
        gib = float(raw)
    except ValueError:
        gib = -1
    if not 0 <= gib <= 1_000_000:
        raise InvalidInput.fields([{"loc": "quota_gib", "msg": "a number of GiB, 0 or more"}])
    return int(gib * GIB)


@router.get("", name="portal.admin.home")
def overview(ctx: Page) -> Response:
    admin_only(ctx)
    tenants = ctx.svc.tenants.list(ctx.actor, status=None, cursor=None, limit=200).items
    users = ctx.svc.users.list(ctx.actor, tenant_id=None, role=None, cursor=None, limit=200)

    return ctx.render(
        "admin/overview.html",
        tenants=tenants,
        user_count=len(users.items),
        more_users=users.next_cursor is not None,
        areas=available(ctx.svc),
    )


def _tenants_page(ctx: Ctx, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    cursor = ctx.request.query_params.get("cursor") or None
    page = ctx.svc.tenants.list(ctx.actor, status=None, cursor=cursor, limit=50)
    return ctx.render("admin/tenants.html", status, tenants=page, errors=errors or {}, gib=GIB)


@router.get("/tenants", name="portal.admin.tenants")
def tenants(ctx: Page) -> Response:
    admin_only(ctx)
    return _tenants_page(ctx)


@router.post("/tenants", name="portal.admin.tenant_create")
def tenant_create(ctx: Page) -> Response:
    try:
        tenant = ctx.svc.tenants.create(
            ctx.actor,
            ctx.field("name"),
            ctx.field("display_name") or None,
            parse_quota(ctx.field("quota_gib")),
        )
    except InvalidInput as exc:
        return _tenants_page(ctx, field_errors(exc), 422)
    return redirect("/admin/tenants", f"Tenant {tenant.name} created.")


@router.post("/tenants/{tenant_id}", name="portal.admin.tenant_change")
def tenant_change(tenant_id: str, ctx: Page) -> Response:
    action = ctx.field("action")
    changes: dict[str, Any] = {}
    try:
        if action == "suspend":
            changes["status"] = "suspended"
        elif action == "resume":
            changes["status"] = "active"
        elif action == "edit":
            changes["name"] = ctx.field("name")
            changes["display_name"] = ctx.field("display_name") or ctx.field("name")
            changes["storage_quota_bytes"] = parse_quota(ctx.field("quota_gib"))
        else:
            raise InvalidInput.fields([{"loc": "action", "msg": "unknown action"}])
        tenant = ctx.svc.tenants.update(ctx.actor, tenant_id, changes)
    except InvalidInput as exc:
        return redirect("/admin/tenants", f"Not changed: {exc.message}", "bad")
    return redirect("/admin/tenants", f"Tenant {tenant.name} updated.")


def _date(raw: str | None, loc: str) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput.fields([{"loc": loc, "msg": "use YYYY-MM-DD"}]) from None


@router.get("/audit", name="portal.admin.audit")
def audit(ctx: Page) -> Response:
    admin_only(ctx)
    q = ctx.request.query_params
    keys = ("action", "actor", "target_id", "outcome", "tenant", "since", "until")
    params = {k: (q.get(k) or "").strip()[:100] for k in keys}
    errors: dict[str, str] = {}
    tenants = ctx.svc.tenants.list(ctx.actor, status=None, cursor=None, limit=200).items
    by_name = {t.name: t.id for t in tenants}
    actor = params["actor"]
    try:
        flt = AuditFilter(
            action=params["action"] or None,
            actor_email=actor if "@" in actor else None,  # an e-mail, else an actor id
            actor_id=actor if actor and "@" not in actor else None,
            target_id=params["target_id"] or None,
            outcome=params["outcome"] or None,
            tenant_id=by_name.get(params["tenant"], params["tenant"]) or None,
            since=_date(params["since"], "since"),
            until=_date(params["until"], "until"),
        )
        events = ctx.svc.audit.list(ctx.actor, flt, cursor=q.get("cursor") or None, limit=50)
    except InvalidInput as exc:
        errors = field_errors(exc)
        events = None
    return ctx.render(
        "admin/audit.html",
        200 if not errors else 422,
        events=events,
        params=params,
        errors=errors,
        tenant_names={t.id: t.name for t in tenants},
    )

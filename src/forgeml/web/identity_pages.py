"""Users and API tokens: tenant settings (admins: users; everyone: own tokens) and admin users."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from forgeml.domain.authz import Perm
from forgeml.domain.errors import Forbidden, InvalidInput
from forgeml.domain.identity import TENANT_ROLES, Role, TokenScope
from forgeml.web.core import Ctx, Page, PortalRoute, field_errors, redirect, service

router = APIRouter(route_class=PortalRoute)


def _users_page(ctx: Ctx, template: str, errors: dict[str, str], status: int = 200) -> Response:
    tenant_filter = ctx.request.query_params.get("tenant") or None
    cursor = ctx.request.query_params.get("cursor") or None
    users = ctx.svc.users.list(
        ctx.actor, tenant_id=tenant_filter, role=None, cursor=cursor, limit=50
    )
    tenants = []
    if ctx.is_admin:
        tenants = list(ctx.svc.tenants.list(ctx.actor, status=None, cursor=None, limit=200).items)
    roles = [Role.PLATFORM_ADMIN, *TENANT_ROLES] if ctx.is_admin else list(TENANT_ROLES)
    return ctx.render(
        template,
        status,
        users=users,
        tenants=tenants,
        tenant_names={t.id: t.name for t in tenants},
        tenant_options=[(t.id, t.name) for t in tenants],
        roles=[r.value for r in roles],
        errors=errors,
        tenant_filter=tenant_filter or "",
    )


def _create_user(ctx: Ctx, back: str, template: str) -> Response:
    try:
        role = Role(ctx.field("role") or Role.MEMBER.value)
        tenant_id = ctx.field("tenant_id") or None
        if role is Role.PLATFORM_ADMIN:
            tenant_id = None
        user = ctx.svc.users.create(
            ctx.actor,
            email=ctx.field("email"),
            name=ctx.field("name") or None,
            role=role,
            password=ctx.field("password") or None,
            tenant_id=tenant_id,
        )
    except ValueError:
        return _users_page(ctx, template, {"role": "choose a role from the list"}, 422)
    except InvalidInput as exc:
        return _users_page(ctx, template, field_errors(exc), 422)
    return redirect(back, f"User {user.email} created.")


def _change_user(ctx: Ctx, user_id: str, back: str) -> Response:
    action = ctx.field("action")
    changes: dict[str, Any]
    if action == "disable":
        changes = {"disabled": True}
    elif action == "enable":
        changes = {"disabled": False}
    elif action == "role":
        changes = {"role": ctx.field("role")}
    elif action == "delete":
        ctx.svc.users.delete(ctx.actor, user_id)
        return redirect(back, "User deleted.")
    else:
        raise InvalidInput.fields([{"loc": "action", "msg": "unknown action"}])
    try:
        user = ctx.svc.users.update(ctx.actor, user_id, changes)
    except (InvalidInput, ValueError) as exc:
        return redirect(back, f"Not changed: {getattr(exc, 'message', exc)}", "bad")
    return redirect(back, f"User {user.email} updated.")


def _user_routes(path: str, back: str, template: str, plane: str) -> None:
    """Create and change users, the same on both pages with the users table (tenant settings,
    admin users); `back` is where a change redirects to, `template` what shows a refused form."""

    @router.post(path, name=f"portal.{plane}.user_create")
    def user_create(ctx: Page) -> Response:
        return _create_user(ctx, back, template)

    @router.post(path + "/{user_id}", name=f"portal.{plane}.user_change")
    def user_change(user_id: str, ctx: Page) -> Response:
        return _change_user(ctx, user_id, back)


@router.get("/settings", name="portal.settings")
def settings(ctx: Page) -> Response:
    return _settings_page(ctx)


def _settings_page(
    ctx: Ctx, *, errors: dict[str, str] | None = None, secret: str | None = None, status: int = 200
) -> Response:
    users = None
    if ctx.can(Perm.USERS_READ) and not ctx.is_admin:
        users = ctx.svc.users.list(ctx.actor, tenant_id=None, role=None, cursor=None, limit=200)
    tokens = ctx.svc.tokens.list(ctx.actor, user_id=None, cursor=None, limit=100)
    return ctx.render(
        "tenant/settings.html",
        status,
        users=users,
        tokens=tokens,
        roles=[r.value for r in TENANT_ROLES],
        errors=errors or {},
        secret=secret,
        webhooks_enabled=service(ctx.svc, "webhooks") is not None and ctx.can(Perm.WEBHOOKS_MANAGE),
    )


_user_routes("/settings/users", "/settings", "tenant/settings.html", "settings")


@router.post("/settings/tokens", name="portal.settings.token_create")
def token_create(ctx: Page) -> Response:
    scope = ctx.field("scope") or "write"
    scopes = [TokenScope.READ] if scope == "read" else [TokenScope.READ, TokenScope.WRITE]
    days_raw = ctx.field("expires_in_days")
    errors: dict[str, str] = {}
    if not ctx.field("name"):
        errors["token_name"] = "give the token a name"
    if days_raw and (not days_raw.isdigit() or not 1 <= int(days_raw) <= 3650):
        errors["expires_in_days"] = "a whole number of days from 1 to 3650"
    if errors:
        return _settings_page(ctx, errors=errors, status=422)
    new = ctx.svc.tokens.create(
        ctx.actor,
        name=ctx.field("name")[:200],
        scopes=scopes,
        expires_in_days=int(days_raw) if days_raw else None,
        user_id=None,
    )
    return _settings_page(ctx, secret=new.secret)


@router.post("/settings/tokens/{token_id}/revoke", name="portal.settings.token_revoke")
def token_revoke(token_id: str, ctx: Page) -> Response:
    token = ctx.svc.tokens.revoke(ctx.actor, token_id)
    return redirect("/settings", f"Token {token.name} revoked.")


@router.get("/admin/users", name="portal.admin.users")
def admin_users(ctx: Page) -> Response:
    if not ctx.is_admin:
        raise Forbidden("platform admins only")
    return _users_page(ctx, "admin/users.html", {})


_user_routes("/admin/users", "/admin/users", "admin/users.html", "admin")

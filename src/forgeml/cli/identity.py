"""API-side identity verbs, all through the SDK: login/whoami, tenants, users, tokens, audit."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from forgeml.cli.output import JsonOpt, console, emit, fail, given, handle_errors, verb
from forgeml.client import Client
from forgeml.client import profiles as prof

UserArg = Annotated[str, typer.Argument(help="User e-mail or id.")]
TenantArg = Annotated[str, typer.Argument(help="Tenant name or id.")]
tenant_app = typer.Typer(help="Tenants (platform admins).", no_args_is_help=True)
user_app = typer.Typer(help="Users of a tenant.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
profile_app = typer.Typer(help="Saved login profiles.", no_args_is_help=True)

TENANT_COLS = [
    "id", "name", "display_name", "status", "storage_quota_bytes", "weight", "created_at"
]  # fmt: skip
USER_COLS = ["id", "email", "name", "role", "tenant_id", "disabled", "last_login_at"]
TOKEN_COLS = [
    "id",
    "name",
    "prefix",
    "user_id",
    "scopes",
    "expires_at",
    "revoked_at",
    "last_used_at",
]
AUDIT_COLS = [
    "at",
    "action",
    "outcome",
    "actor_email",
    "target_type",
    "target_id",
    "tenant_id",
    "source_ip",
]


def client() -> Client:
    return Client.from_env()


@handle_errors
def login(
    url: Annotated[
        str | None,
        typer.Option(help="Server URL (default: the local `forgeml up`).", envvar="FORGEML_URL"),
    ] = None,
    email: Annotated[str, typer.Option(prompt=True)] = "",
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, envvar="FORGEML_PASSWORD")
    ] = "",
    profile: Annotated[
        str | None, typer.Option(help="Profile name to save (default: the e-mail).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Log in with e-mail and password; saves a new API token in a profile (0600 file) and makes
    it the current one. Refused while FORGEML_TOKEN is set, since that token would still win."""
    if os.environ.get("FORGEML_TOKEN"):
        fail(
            "FORGEML_TOKEN is set, so every command would keep using that token instead of this "
            "login; run `unset FORGEML_TOKEN` first",
            json_out,
            "token_in_environment",
        )
    url = url or prof.server_url() or prof.DEFAULT_URL
    name = profile or email
    previous, replaced = prof.current_name(), prof.get(name)
    if replaced is not None and replaced.email not in (None, email) and profile is not None:
        fail(
            f"profile {name!r} belongs to {replaced.email}; pick another --profile or "
            f"`forgeml logout --profile {name}` first",
            json_out,
            "profile_in_use",
        )
    with Client(url) as c:
        data = c.login(email, password, token_name=f"cli:{name}")
    path = prof.save(prof.Profile(name=name, url=url, token=data["token"], email=email))
    emit(
        {
            "user": data["user"]["email"],
            "role": data["user"]["role"],
            "profile": name,
            "previous_profile": previous if previous != name else None,
            "saved_to": str(path),
        },
        json_out,
    )
    if previous and previous != name and not json_out:
        console.print(f"Profile {name!r} is now current (was {previous!r}; `forgeml profile use`).")


@handle_errors
def logout(
    profile: Annotated[str | None, typer.Option()] = None, json_out: JsonOpt = False
) -> None:
    """Revoke the saved token on the server and forget the profile."""
    saved = prof.get(profile)
    if saved is not None:
        with Client(saved.url, saved.token) as c:
            me = c.me()
            token_id = next(
                (
                    t["id"]
                    for t in c.tokens.list()
                    if saved.token.startswith(t["prefix"] + "_")
                    and t["user_id"] == me["user"]["id"]
                    and not t["revoked_at"]
                ),
                None,
            )
            if token_id:
                c.tokens.revoke(token_id)
        prof.remove(saved.name)
    emit({"logged_out": saved is not None}, json_out)


@handle_errors
def whoami(json_out: JsonOpt = False) -> None:
    """Show who the configured credentials belong to."""
    with client() as c:
        me = c.me()
    out = {
        "email": me["user"]["email"],
        "role": me["user"]["role"],
        "user_id": me["user"]["id"],
        "tenant": me["tenant"]["name"] if me["tenant"] else None,
        "via": me["via"],
        "scopes": me["scopes"],
        "credentials": "FORGEML_TOKEN"
        if os.environ.get("FORGEML_TOKEN")
        else f"profile {prof.current_name()}",
        "server": c.url,
    }
    emit(out if not json_out else me, json_out)


# --- tenants --------------------------------------------------------------------------------


@verb(tenant_app, "create", TENANT_COLS)
def tenant_create(
    name: str,
    display_name: Annotated[str | None, typer.Option()] = None,
    quota_bytes: Annotated[int | None, typer.Option(help="storage quota")] = None,
    json_out: JsonOpt = False,
) -> object:
    with client() as c:
        return c.tenants.create(name, display_name, quota_bytes)


@verb(tenant_app, "ls", TENANT_COLS)
def tenant_ls(
    status: Annotated[str | None, typer.Option()] = None, json_out: JsonOpt = False
) -> object:
    with client() as c:
        return c.tenants.list(status=status)


@verb(tenant_app, "show", TENANT_COLS)
def tenant_show(
    tenant_id: Annotated[str, typer.Argument(help="Tenant name or id.")], json_out: JsonOpt = False
) -> object:
    with client() as c:
        return c.tenants.get(c.tenants.resolve(tenant_id))


@verb(tenant_app, "rename", TENANT_COLS)
def tenant_rename(tenant_id: TenantArg, new_name: str, json_out: JsonOpt = False) -> object:
    with client() as c:
        return c.tenants.update(c.tenants.resolve(tenant_id), name=new_name)


@verb(tenant_app, "set-quota", TENANT_COLS)
def tenant_quota(tenant_id: str, quota_bytes: int, json_out: JsonOpt = False) -> object:
    with client() as c:
        return c.tenants.update(c.tenants.resolve(tenant_id), storage_quota_bytes=quota_bytes)


@verb(tenant_app, "set-weight", TENANT_COLS)
def tenant_weight(
    tenant_id: TenantArg,
    weight: Annotated[float, typer.Argument(min=0.01, max=1000, help="fair-share weight")],
    json_out: JsonOpt = False,
) -> object:
    """Set a tenant's fair-share weight: with the cluster full, weight 2 gets twice the share."""
    with client() as c:
        return c.tenants.update(c.tenants.resolve(tenant_id), weight=weight)


@verb(tenant_app, "suspend", TENANT_COLS)
def tenant_suspend(tenant_id: TenantArg, json_out: JsonOpt = False) -> object:
    """Suspend a tenant: its users' credentials stop working at once."""
    with client() as c:
        return c.tenants.suspend(c.tenants.resolve(tenant_id))


@verb(tenant_app, "resume", TENANT_COLS)
def tenant_resume(tenant_id: TenantArg, json_out: JsonOpt = False) -> object:
    with client() as c:
        return c.tenants.resume(c.tenants.resolve(tenant_id))


# --- users ----------------------------------------------------------------------------------


@verb(user_app, "create", USER_COLS)
def user_create(
    email: str,
    role: Annotated[
        str, typer.Option(help="tenant-admin | member | viewer | platform-admin")
    ] = "member",
    name: Annotated[str | None, typer.Option()] = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="tenant name or id (platform admins)")
    ] = None,
    password: Annotated[str | None, typer.Option(envvar="FORGEML_NEW_PASSWORD")] = None,
    json_out: JsonOpt = False,
) -> object:
    with client() as c:
        return c.users.create(
            email,
            role=role,
            name=name,
            password=password,
            tenant_id=c.tenants.resolve(tenant) if tenant else None,
        )


@verb(user_app, "ls", USER_COLS)
def user_ls(
    tenant: Annotated[str | None, typer.Option("--tenant")] = None,
    role: Annotated[str | None, typer.Option()] = None,
    json_out: JsonOpt = False,
) -> object:
    with client() as c:
        tenant_id = c.tenants.resolve(tenant) if tenant else None
        return c.users.list(tenant_id=tenant_id, role=role)


@verb(user_app, "show", USER_COLS)
def user_show(user_id: UserArg, json_out: JsonOpt = False) -> object:
    with client() as c:
        return c.users.get(c.users.resolve(user_id))


@verb(user_app, "update", USER_COLS)
def user_update(
    user_id: UserArg,
    role: Annotated[str | None, typer.Option()] = None,
    name: Annotated[str | None, typer.Option()] = None,
    disabled: Annotated[bool | None, typer.Option("--disabled/--enabled")] = None,
    json_out: JsonOpt = False,
) -> object:
    changes = given(role=role, name=name, disabled=disabled)
    with client() as c:
        return c.users.update(c.users.resolve(user_id), **changes)


@verb(user_app, "rm")
def user_rm(user_id: UserArg, json_out: JsonOpt = False) -> object:
    with client() as c:
        c.users.delete(c.users.resolve(user_id))
    return {"deleted": user_id}


# --- tokens and audit -----------------------------------------------------------------------


@token_app.command("create")
@handle_errors
def token_create(
    name: str,
    scope: Annotated[list[str] | None, typer.Option("--scope", help="read | write")] = None,
    expires_in_days: Annotated[int | None, typer.Option()] = None,
    user: Annotated[str | None, typer.Option("--user", help="user e-mail or id (admins)")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a token; its secret is printed once."""
    with client() as c:
        user_id = c.users.resolve(user) if user else None
        data = c.tokens.create(name, scopes=scope, expires_in_days=expires_in_days, user_id=user_id)
    emit(data, json_out, [*TOKEN_COLS, "token"])
    if not json_out:
        console.print("[yellow]Store the token now: it is not shown again.[/yellow]")


@verb(token_app, "ls", TOKEN_COLS)
def token_ls(
    user: Annotated[str | None, typer.Option("--user")] = None, json_out: JsonOpt = False
) -> object:
    with client() as c:
        return c.tokens.list(user_id=c.users.resolve(user) if user else None)


@verb(token_app, "revoke", TOKEN_COLS)
def token_revoke(token_id: str, json_out: JsonOpt = False) -> object:
    with client() as c:
        return c.tokens.revoke(token_id)


@verb(audit_app, "ls", AUDIT_COLS)
def audit_ls(
    action: Annotated[str | None, typer.Option()] = None,
    outcome: Annotated[str | None, typer.Option()] = None,
    tenant: Annotated[str | None, typer.Option("--tenant")] = None,
    limit: Annotated[int, typer.Option(help="newest N events")] = 50,
    json_out: JsonOpt = False,
) -> object:
    with client() as c:
        page = c.json(
            "GET",
            "/api/v1/audit",
            params={
                k: v
                for k, v in {
                    "action": action,
                    "outcome": outcome,
                    "tenant_id": c.tenants.resolve(tenant) if tenant else None,
                    "limit": limit,
                }.items()
                if v
            },
        )
    return page["items"]


# --- profiles -------------------------------------------------------------------------------


@verb(profile_app, "ls", ["name", "email", "url", "current"])
def profile_ls(json_out: JsonOpt = False) -> object:
    """Saved profiles; `current` marks the one commands use (FORGEML_TOKEN wins over all)."""
    current = prof.current_name()
    rows = []
    for name in prof.names():
        saved = prof.get(name)
        assert saved is not None
        rows.append(
            {"name": name, "email": saved.email, "url": saved.url, "current": name == current}
        )
    return rows


@verb(profile_app, "use")
def profile_use(name: str, json_out: JsonOpt = False) -> object:
    """Make a saved profile the current one."""
    if not prof.use(name):
        fail(f"no saved profile {name!r} (see `forgeml profile ls`)", json_out, "not_found")
    return {"current": name}

"""Queries for tenants, users, API tokens and browser sessions, returning domain objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from forgeml.db.pagination import Page, paginate
from forgeml.db.rows import from_row, one, one_by_id, where_given
from forgeml.db.scope import Scope, scoped
from forgeml.db.tables import api_tokens, browser_sessions, login_attempts, tenants, users
from forgeml.domain.errors import Conflict
from forgeml.domain.identity import ApiToken, Role, Tenant, TenantStatus, TokenScope, User


def _tenant(r: RowMapping) -> Tenant:
    return from_row(Tenant, r, status=TenantStatus)


def _user(r: RowMapping) -> User:
    return from_row(User, r, role=Role, disabled=bool)


def _token(r: RowMapping) -> ApiToken:
    return from_row(ApiToken, r, scopes=lambda scopes: tuple(map(TokenScope, scopes)))


# --- tenants (the tenant row's own id is its tenant_id) -------------------------------------


def insert_tenant(conn: Connection, values: dict[str, Any]) -> Tenant:
    if conn.execute(sa.select(tenants.c.id).where(tenants.c.name == values["name"])).first():
        raise Conflict(f"a tenant named {values['name']!r} already exists", code="already_exists")
    conn.execute(tenants.insert().values(**values))
    return get_tenant(conn, Scope.everything(), values["id"])


def get_tenant(conn: Connection, scope: Scope, tenant_id: str) -> Tenant:
    stmt = scoped(sa.select(tenants).where(tenants.c.id == tenant_id), tenants, scope, "id")
    return one(conn, stmt, _tenant, f"tenant {tenant_id!r} not found")


def list_tenants(
    conn: Connection, scope: Scope, *, status: str | None, cursor: str | None, limit: int
) -> Page[Tenant]:
    stmt = scoped(sa.select(tenants), tenants, scope, "id")
    if status:
        stmt = stmt.where(tenants.c.status == status)
    return paginate(conn, stmt, tenants.c.id, _tenant, cursor=cursor, limit=limit)


def update_tenant(conn: Connection, scope: Scope, tenant_id: str, values: dict[str, Any]) -> Tenant:
    get_tenant(conn, scope, tenant_id)
    if "name" in values:
        clash = sa.select(tenants.c.id).where(
            tenants.c.name == values["name"], tenants.c.id != tenant_id
        )
        if conn.execute(clash).first():
            raise Conflict(
                f"a tenant named {values['name']!r} already exists", code="already_exists"
            )
    conn.execute(tenants.update().where(tenants.c.id == tenant_id).values(**values))
    return get_tenant(conn, scope, tenant_id)


# --- users ----------------------------------------------------------------------------------


def insert_user(conn: Connection, values: dict[str, Any]) -> User:
    if conn.execute(sa.select(users.c.id).where(users.c.email == values["email"])).first():
        raise Conflict("a user with this e-mail already exists", code="already_exists")
    conn.execute(users.insert().values(**values))
    return get_user(conn, Scope.everything(), values["id"])


def get_user(conn: Connection, scope: Scope, user_id: str) -> User:
    return one_by_id(conn, scope, users, user_id, _user, f"user {user_id!r} not found")


def find_user_for_login(conn: Connection, email: str) -> tuple[User, str | None] | None:
    row = conn.execute(sa.select(users).where(users.c.email == email)).mappings().first()
    return None if row is None else (_user(row), row["password_hash"])


def list_users(
    conn: Connection,
    scope: Scope,
    *,
    tenant_id: str | None,
    role: str | None,
    cursor: str | None,
    limit: int,
) -> Page[User]:
    stmt = where_given(
        scoped(sa.select(users), users, scope), (users.c.tenant_id, tenant_id), (users.c.role, role)
    )
    return paginate(conn, stmt, users.c.id, _user, cursor=cursor, limit=limit)


def update_user(conn: Connection, scope: Scope, user_id: str, values: dict[str, Any]) -> User:
    get_user(conn, scope, user_id)
    conn.execute(users.update().where(users.c.id == user_id).values(**values))
    return get_user(conn, scope, user_id)


def delete_user(conn: Connection, scope: Scope, user_id: str) -> None:
    get_user(conn, scope, user_id)
    conn.execute(api_tokens.delete().where(api_tokens.c.user_id == user_id))
    conn.execute(browser_sessions.delete().where(browser_sessions.c.user_id == user_id))
    conn.execute(users.delete().where(users.c.id == user_id))


def count_platform_admins(conn: Connection) -> int:
    stmt = (
        sa.select(sa.func.count())
        .select_from(users)
        .where(users.c.role == Role.PLATFORM_ADMIN.value)
    )
    return int(conn.execute(stmt).scalar_one())


# --- API tokens -----------------------------------------------------------------------------


def insert_token(conn: Connection, values: dict[str, Any]) -> ApiToken:
    conn.execute(api_tokens.insert().values(**values))
    return get_token(conn, Scope.everything(), values["id"])


def get_token(
    conn: Connection, scope: Scope, token_id: str, *, user_id: str | None = None
) -> ApiToken:
    stmt = scoped(sa.select(api_tokens).where(api_tokens.c.id == token_id), api_tokens, scope)
    if user_id is not None:
        stmt = stmt.where(api_tokens.c.user_id == user_id)
    return one(conn, stmt, _token, f"token {token_id!r} not found")


def list_tokens(
    conn: Connection, scope: Scope, *, user_id: str | None, cursor: str | None, limit: int
) -> Page[ApiToken]:
    stmt = scoped(sa.select(api_tokens), api_tokens, scope)
    if user_id:
        stmt = stmt.where(api_tokens.c.user_id == user_id)
    return paginate(conn, stmt, api_tokens.c.id, _token, cursor=cursor, limit=limit)


def touch_token(conn: Connection, token_id: str, at: datetime) -> None:
    conn.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(last_used_at=at))


def revoke_token(
    conn: Connection, scope: Scope, token_id: str, at: datetime, *, user_id: str | None
) -> ApiToken:
    tok = get_token(conn, scope, token_id, user_id=user_id)
    if tok.revoked_at is None:
        conn.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(revoked_at=at))
    return get_token(conn, scope, token_id)


# --- browser sessions and login attempts ----------------------------------------------------


def insert_session(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(browser_sessions.insert().values(**values))


def revoke_session(conn: Connection, session_id: str, at: datetime) -> None:
    stmt = (
        browser_sessions.update().where(browser_sessions.c.id == session_id).values(revoked_at=at)
    )
    conn.execute(stmt)


def record_login_attempt(
    conn: Connection, email: str, source_ip: str | None, ok: bool, at: datetime
) -> None:
    conn.execute(
        login_attempts.insert().values(email=email, source_ip=source_ip, succeeded=ok, at=at)
    )


def recent_login_failures(conn: Connection, email: str, since: datetime) -> int:
    """Failures for `email` since the later of `since` and its last success."""
    last_ok = sa.select(sa.func.max(login_attempts.c.at)).where(
        login_attempts.c.email == email, login_attempts.c.succeeded.is_(True)
    )
    last_ok_at = conn.execute(last_ok).scalar()
    start = max(since, last_ok_at) if last_ok_at else since
    stmt = (
        sa.select(sa.func.count())
        .select_from(login_attempts)
        .where(
            login_attempts.c.email == email,
            login_attempts.c.succeeded.is_(False),
            login_attempts.c.at > start,
        )
    )
    return int(conn.execute(stmt).scalar_one())

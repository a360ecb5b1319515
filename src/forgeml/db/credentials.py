"""Credential lookups for every authenticated request: token or session → user → tenant status in
one indexed query (the unique `token_hash` index, then primary keys), nothing cached.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from forgeml.db.tables import api_tokens, browser_sessions, tenants, users
from forgeml.domain.identity import Credential, Role, TenantStatus, TokenScope

_PERSON = (
    users.c.email,
    users.c.role,
    users.c.tenant_id,
    users.c.disabled.label("user_disabled"),
    tenants.c.status.label("tenant_status"),
)


def _joined(table: sa.Table) -> sa.FromClause:
    return table.join(users, users.c.id == table.c.user_id).outerjoin(
        tenants, tenants.c.id == users.c.tenant_id
    )


def _credential(r: RowMapping, **extra: object) -> Credential:
    status = r["tenant_status"]
    return Credential(
        id=r["id"],
        user_id=r["user_id"],
        email=r["email"],
        role=Role(r["role"]),
        tenant_id=r["tenant_id"],
        user_disabled=bool(r["user_disabled"]),
        tenant_status=None if status is None else TenantStatus(status),
        expires_at=r["expires_at"],
        revoked_at=r["revoked_at"],
        **extra,  # type: ignore[arg-type]
    )


def token_statement(token_hash: str) -> sa.Select[Any]:
    t = api_tokens
    cols = (t.c.id, t.c.user_id, t.c.expires_at, t.c.revoked_at, t.c.last_used_at, t.c.scopes)
    return sa.select(*cols, *_PERSON).select_from(_joined(t)).where(t.c.token_hash == token_hash)


def find_token(conn: Connection, token_hash: str) -> Credential | None:
    row = conn.execute(token_statement(token_hash)).mappings().first()
    if row is None:
        return None
    scopes = tuple(TokenScope(s) for s in row["scopes"])
    return _credential(row, last_used_at=row["last_used_at"], scopes=scopes)


def find_session(conn: Connection, token_hash: str) -> Credential | None:
    s = browser_sessions
    cols = (s.c.id, s.c.user_id, s.c.expires_at, s.c.revoked_at, s.c.csrf_token)
    stmt = sa.select(*cols, *_PERSON).select_from(_joined(s)).where(s.c.token_hash == token_hash)
    row = conn.execute(stmt).mappings().first()
    return None if row is None else _credential(row, csrf_token=str(row["csrf_token"]))

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


def _lookup(table: sa.Table, *cols: sa.ColumnElement[Any]) -> sa.Select[Any]:
    joined = table.join(users, users.c.id == table.c.user_id).outerjoin(
        tenants, tenants.c.id == users.c.tenant_id
    )
    return (
        sa.select(table.c.id, table.c.user_id, table.c.expires_at, table.c.revoked_at, *cols)
        .add_columns(*_PERSON)
        .select_from(joined)
        .where(table.c.token_hash == sa.bindparam("token_hash"))
    )


# Built once per process: the join and the column coercion are not redone per request.
_TOKEN = _lookup(api_tokens, api_tokens.c.last_used_at, api_tokens.c.scopes)
_SESSION = _lookup(browser_sessions, browser_sessions.c.csrf_token)


def token_statement() -> sa.Select[Any]:
    """The token lookup (bind `token_hash`), for query-plan checks."""
    return _TOKEN


def find_token(conn: Connection, token_hash: str) -> Credential | None:
    row = conn.execute(_TOKEN, {"token_hash": token_hash}).mappings().first()
    if row is None:
        return None
    scopes = tuple(TokenScope(s) for s in row["scopes"])
    return _credential(row, last_used_at=row["last_used_at"], scopes=scopes)


def find_session(conn: Connection, token_hash: str) -> Credential | None:
    row = conn.execute(_SESSION, {"token_hash": token_hash}).mappings().first()
    return None if row is None else _credential(row, csrf_token=str(row["csrf_token"]))

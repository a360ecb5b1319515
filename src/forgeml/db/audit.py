"""Audit events: append-only inserts and filtered, scoped, paginated reads."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from forgeml.db.pagination import Page, paginate
from forgeml.db.rows import from_row
from forgeml.db.scope import Scope, scoped
from forgeml.db.tables import audit_events
from forgeml.domain.audit import AuditEvent as AuditEvent  # re-exported: what list_events returns
from forgeml.domain.filters import AuditFilter


def _event(r: RowMapping) -> AuditEvent:
    return from_row(AuditEvent, r)


def insert_event(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(audit_events.insert().values(**values))


def list_events(
    conn: Connection, scope: Scope, flt: AuditFilter, *, cursor: str | None, limit: int
) -> Page[AuditEvent]:
    t = audit_events
    stmt = scoped(sa.select(t), t, scope)
    if flt.action:
        # a trailing ".*" selects a family of actions, e.g. "user.*"
        if flt.action.endswith(".*"):
            stmt = stmt.where(t.c.action.startswith(flt.action[:-1], autoescape=True))
        else:
            stmt = stmt.where(t.c.action == flt.action)
    if flt.actor_email:  # what a person knows of an actor; case as typed does not matter
        stmt = stmt.where(sa.func.lower(t.c.actor_email) == flt.actor_email.lower())
    for col in ("actor_id", "target_id", "outcome", "tenant_id"):
        value = getattr(flt, col)
        if value:
            stmt = stmt.where(t.c[col] == value)
    if flt.since:
        stmt = stmt.where(t.c.at >= flt.since)
    if flt.until:
        stmt = stmt.where(t.c.at < flt.until)
    return paginate(conn, stmt, t.c.id, _event, cursor=cursor, limit=limit)

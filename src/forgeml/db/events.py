"""The event outbox: facts written in the same transaction as the change that caused them.

Dispatchers (webhooks, e-mail, live streams) read from here; an event is never lost because it
commits or rolls back together with its cause.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from forgeml.db import columns as col
from forgeml.db import wakeups
from forgeml.db.rows import from_row
from forgeml.db.scope import Scope, scoped
from forgeml.db.tables import entity
from forgeml.db.types import utcnow
from forgeml.domain.events import Event
from forgeml.domain.ids import new_id

_PG_LOCK_KEY = 0x466F726765  # "Forge": the advisory lock that orders event writers

events = entity(
    "events",
    col.typed("seq", sa.BigInteger, unique=True),
    col.string("type", 100),
    col.typed("version", sa.Integer),
    col.string("tenant_id", 32, nullable=True, index=True),
    col.string("subject_type", 50, nullable=True),
    col.string("subject_id", 64, nullable=True),
    col.timestamp("at"),
    col.typed("data", sa.JSON),
)


def _event(r: RowMapping) -> Event:
    return from_row(Event, r)


def emit(
    conn: Connection,
    type_: str,
    *,
    tenant_id: str | None,
    data: dict[str, Any],
    subject_type: str | None = None,
    subject_id: str | None = None,
    version: int = 1,
) -> Event:
    """Append an event inside the caller's transaction.

    `seq` is the streams' cursor and must become visible in order: a reader that saw seq N must
    never later find a committed N-1. So writers of events are serialized until commit (SQLite:
    BEGIN IMMEDIATE already does; PostgreSQL: a transaction-scoped advisory lock).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    seq = (
        int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(events.c.seq), 0))).scalar_one())
        + 1
    )
    values = {
        "id": new_id("evt"),
        "seq": seq,
        "type": type_,
        "version": version,
        "tenant_id": tenant_id,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "at": utcnow(),
        "data": data,
    }
    conn.execute(events.insert().values(**values))
    wakeups.notify(conn, wakeups.EVENTS)  # the dispatcher fans it out once this commits
    return Event(**values)  # type: ignore[arg-type]


def after(
    conn: Connection,
    scope: Scope,
    seq: int,
    *,
    limit: int = 500,
    subject: tuple[str, str] | None = None,
) -> list[Event]:
    """Events with `seq` greater than the given one, oldest first, within `scope` (and about
    one `(subject_type, subject_id)` when given)."""
    e = events
    stmt = sa.select(e).where(e.c.seq > seq)
    if subject is not None:
        stmt = stmt.where(e.c.subject_type == subject[0], e.c.subject_id == subject[1])
    rows = conn.execute(scoped(stmt, e, scope).order_by(e.c.seq).limit(limit)).mappings().all()
    return [_event(r) for r in rows]

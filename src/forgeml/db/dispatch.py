"""Dispatcher state: the fan-out cursor, the e-mail outbox, notification preferences, and the
atomic lease-based claim shared by webhook deliveries and e-mails.

Claims are one statement (SQLite) or `FOR UPDATE SKIP LOCKED` (PostgreSQL), so several
dispatchers never take the same row, and a row whose lease expired (dispatcher killed) is retaken.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping

from forgeml.db import columns as col
from forgeml.db import wakeups
from forgeml.db.events import events
from forgeml.db.rows import from_row
from forgeml.db.scope import Scope, scoped
from forgeml.db.tables import entity, metadata, users
from forgeml.domain.events import Event
from forgeml.domain.identity import Role
from forgeml.domain.webhooks import DeliveryState, NotificationPrefs


def retry_columns() -> list[sa.Column[Any]]:
    """The state, attempt count, retry window and lease of an outbox row that is sent until it
    goes through (webhook deliveries and e-mails)."""
    return [
        col.string("state", 16),
        col.typed("attempts", sa.Integer),
        col.timestamp("next_attempt_at"),
        col.timestamp("window_start"),
        col.timestamp("lease_until", nullable=True),
        col.string("lease_token", 32, nullable=True),
    ]


dispatch_cursors = sa.Table(
    "dispatch_cursors",
    metadata,
    col.string("name", 64, primary_key=True),
    col.typed("seq", sa.BigInteger),
    col.timestamp("updated_at"),
)

email_outbox = entity(
    "email_outbox",
    col.tenant_column(nullable=True, references=False),
    col.key("event_id"),
    col.key("user_id"),
    col.string("to_address", 320),
    col.string("subject", 300),
    col.typed("text_body", sa.Text),
    col.typed("html_body", sa.Text),
    *retry_columns(),
    col.string("last_error", 1000, nullable=True),
    col.timestamp("sent_at", nullable=True),
    col.timestamp("created_at"),
    sa.UniqueConstraint("event_id", "user_id"),
    sa.Index("ix_email_outbox_state_next_attempt_at", "state", "next_attempt_at"),
)

notification_prefs = sa.Table(
    "notification_prefs",
    metadata,
    col.reference("user_id", "users", ondelete="CASCADE", primary_key=True),
    col.typed("email_on_job_completed", sa.Boolean),
    col.typed("email_on_job_failed", sa.Boolean),
    col.timestamp("updated_at"),
)


def insert_ignoring_duplicates(
    conn: Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str]
) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on the unique `keys` (idempotent fan-out)."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).on_conflict_do_nothing(index_elements=keys)
    conn.execute(stmt, rows)


# --- the fan-out cursor ---------------------------------------------------------------------


def lock_cursor(conn: Connection, name: str, at: datetime) -> int:
    """The cursor's seq, locked until commit so two dispatchers never fan out the same batch."""
    insert_ignoring_duplicates(
        conn, dispatch_cursors, [{"name": name, "seq": 0, "updated_at": at}], ["name"]
    )
    stmt = sa.select(dispatch_cursors.c.seq).where(dispatch_cursors.c.name == name)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()  # SQLite: BEGIN IMMEDIATE already serializes writers
    return int(conn.execute(stmt).scalar_one())


def events_beyond(conn: Connection, name: str) -> bool:
    """Whether events exist past the cursor: the read an idle dispatcher makes instead of
    locking the cursor in a write transaction."""
    cursor = sa.select(dispatch_cursors.c.seq).where(dispatch_cursors.c.name == name)
    seq = conn.execute(cursor).scalar()
    newer = sa.select(events.c.seq).where(events.c.seq > (seq or 0)).limit(1)
    return conn.execute(newer).first() is not None


def advance_cursor(conn: Connection, name: str, seq: int, at: datetime) -> None:
    stmt = dispatch_cursors.update().where(dispatch_cursors.c.name == name)
    conn.execute(stmt.values(seq=seq, updated_at=at))


def event_by_id(conn: Connection, event_id: str) -> Event | None:
    row = conn.execute(sa.select(events).where(events.c.id == event_id)).mappings().first()
    return None if row is None else from_row(Event, row)


def latest_seq(conn: Connection, scope: Scope) -> int:
    stmt = scoped(sa.select(sa.func.max(events.c.seq)), events, scope)
    value = conn.execute(stmt).scalar()
    return int(value) if isinstance(value, int) else 0


# --- claims with leases ---------------------------------------------------------------------


def claim(
    conn: Connection,
    table: sa.Table,
    *,
    now: datetime,
    lease_until: datetime,
    token: str,
    where: list[sa.ColumnElement[bool]] | None = None,
) -> RowMapping | None:
    """Take one due row (pending and due, or delivering with an expired lease) under a lease."""
    c = table.c
    due = _due(table, now)
    pick = sa.select(c.id).where(due, *(where or [])).order_by(c.next_attempt_at).limit(1)
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        table.update()
        .where(c.id == pick.scalar_subquery(), due)
        .values(
            state=DeliveryState.DELIVERING.value,
            lease_until=lease_until,
            lease_token=token,
            attempts=c.attempts + 1,
        )
        .returning(*c)
    )
    return conn.execute(stmt).mappings().first()


def _due(table: sa.Table, now: datetime) -> sa.ColumnElement[bool]:
    c = table.c
    return sa.or_(
        sa.and_(c.state == DeliveryState.PENDING.value, c.next_attempt_at <= now),
        sa.and_(c.state == DeliveryState.DELIVERING.value, c.lease_until < now),
    )


def any_due(
    conn: Connection, table: sa.Table, now: datetime, where: list[sa.ColumnElement[bool]]
) -> bool:
    """Whether `claim` would find a row: the read an idle dispatcher makes instead of a write."""
    stmt = sa.select(table.c.id).where(_due(table, now), *where).limit(1)
    return conn.execute(stmt).first() is not None


def next_due_at(
    conn: Connection, table: sa.Table, where: list[sa.ColumnElement[bool]]
) -> datetime | None:
    """When the next row falls due for `claim` (a retry or an expired lease); None: no row will."""
    c = table.c
    pending = sa.and_(c.state == DeliveryState.PENDING.value, *where)
    delivering = sa.and_(c.state == DeliveryState.DELIVERING.value, *where)
    at = conn.execute(
        sa.select(
            sa.select(sa.func.min(c.next_attempt_at)).where(pending).scalar_subquery(),
            sa.select(sa.func.min(c.lease_until)).where(delivering).scalar_subquery(),
        )
    ).one()
    found = [t for t in at if t is not None]
    return min(found) if found else None


def finish(
    conn: Connection, table: sa.Table, row_id: str, token: str, values: dict[str, Any]
) -> bool:
    """Record an attempt's outcome if we still hold the lease (else another dispatcher does)."""
    stmt = table.update().where(
        table.c.id == row_id,
        table.c.lease_token == token,
        table.c.state == DeliveryState.DELIVERING.value,
    )
    values = {"lease_until": None, "lease_token": None, **values}
    return conn.execute(stmt.values(**values)).rowcount == 1


# --- e-mail recipients and preferences ------------------------------------------------------


def insert_emails(conn: Connection, rows: list[dict[str, Any]]) -> None:
    insert_ignoring_duplicates(conn, email_outbox, rows, ["event_id", "user_id"])
    if rows:
        wakeups.notify(conn, wakeups.EVENTS)


def get_prefs(conn: Connection, user_id: str) -> NotificationPrefs:
    stmt = sa.select(notification_prefs).where(notification_prefs.c.user_id == user_id)
    row = conn.execute(stmt).mappings().first()
    if row is None:
        return NotificationPrefs(user_id=user_id)
    return NotificationPrefs(
        user_id=user_id,
        email_on_job_completed=bool(row["email_on_job_completed"]),
        email_on_job_failed=bool(row["email_on_job_failed"]),
    )


def put_prefs(conn: Connection, prefs: NotificationPrefs, at: datetime) -> None:
    values = {
        "email_on_job_completed": prefs.email_on_job_completed,
        "email_on_job_failed": prefs.email_on_job_failed,
        "updated_at": at,
    }
    stmt = notification_prefs.update().where(notification_prefs.c.user_id == prefs.user_id)
    if conn.execute(stmt.values(**values)).rowcount == 0:
        conn.execute(notification_prefs.insert().values(user_id=prefs.user_id, **values))


def opted_in_users(conn: Connection, tenant_id: str, pref: str) -> list[RowMapping]:
    """Active users of the tenant whose preference column `pref` is on."""
    stmt = (
        sa.select(users.c.id, users.c.email, users.c.name)
        .join(notification_prefs, notification_prefs.c.user_id == users.c.id)
        .where(users.c.tenant_id == tenant_id, users.c.disabled.is_(False))
        .where(notification_prefs.c[pref].is_(True))
    )
    return list(conn.execute(stmt.order_by(users.c.id)).mappings())


def tenant_admins(conn: Connection, tenant_id: str) -> list[RowMapping]:
    stmt = sa.select(users.c.id, users.c.email, users.c.name).where(
        users.c.tenant_id == tenant_id,
        users.c.role == Role.TENANT_ADMIN.value,
        users.c.disabled.is_(False),
    )
    return list(conn.execute(stmt.order_by(users.c.id)).mappings())

"""Webhook subscriptions and their deliveries (one row per event and subscription).

The unique (event_id, webhook_id) constraint makes fan-out idempotent: re-running it after a
crash inserts nothing twice. Claiming and leases are in `db/dispatch.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from forgeml.db import columns as col
from forgeml.db import wakeups
from forgeml.db.dispatch import insert_ignoring_duplicates, retry_columns
from forgeml.db.pagination import Page, paginate
from forgeml.db.rows import from_row, one
from forgeml.db.scope import Scope, scoped
from forgeml.db.tables import entity
from forgeml.domain.errors import NotFound
from forgeml.domain.webhooks import Delivery, DeliveryState, Webhook

webhooks = entity(
    "webhooks",
    col.tenant_column(nullable=False),
    col.string("url", 2000),
    col.typed("events", sa.JSON),
    col.string("description", 500),
    col.string("secret", 100),
    col.typed("enabled", sa.Boolean),
    col.typed("failure_streak", sa.Integer),
    col.string("disabled_reason", 500, nullable=True),
    *col.stamps(),
)

deliveries = entity(
    "deliveries",
    col.tenant_column(nullable=False, references=False),
    col.reference("webhook_id", "webhooks", ondelete="CASCADE"),
    col.key("event_id"),
    col.string("event_type", 100),
    *retry_columns(),
    col.timestamp("last_attempt_at", nullable=True),
    col.typed("last_status_code", sa.Integer, nullable=True),
    col.typed("last_duration_ms", sa.Integer, nullable=True),
    col.string("last_error", 1000, nullable=True),
    col.typed("last_response", sa.Text, nullable=True),
    col.timestamp("delivered_at", nullable=True),
    col.timestamp("created_at"),
    sa.UniqueConstraint("event_id", "webhook_id"),
    sa.Index("ix_deliveries_webhook_id", "webhook_id"),
    sa.Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
)


def _webhook(r: RowMapping) -> Webhook:
    return from_row(Webhook, r, events=tuple, enabled=bool)


def _delivery(r: RowMapping) -> Delivery:
    return from_row(Delivery, r, state=DeliveryState)


# --- subscriptions --------------------------------------------------------------------------


def insert_webhook(conn: Connection, values: dict[str, Any]) -> Webhook:
    conn.execute(webhooks.insert().values(**values))
    return get_webhook(conn, Scope.everything(), values["id"])


def get_webhook(conn: Connection, scope: Scope, webhook_id: str) -> Webhook:
    return _webhook(_webhook_row(conn, scope, webhook_id))


def _webhook_row(conn: Connection, scope: Scope, webhook_id: str) -> RowMapping:
    stmt = scoped(sa.select(webhooks).where(webhooks.c.id == webhook_id), webhooks, scope)
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise NotFound(f"webhook {webhook_id!r} not found")
    return row


def url_and_secret(conn: Connection, webhook_id: str) -> tuple[str, str] | None:
    """For the dispatcher only (the secret never leaves the server otherwise)."""
    stmt = sa.select(webhooks.c.url, webhooks.c.secret).where(webhooks.c.id == webhook_id)
    row = conn.execute(stmt).first()
    return None if row is None else (str(row[0]), str(row[1]))


def list_webhooks(
    conn: Connection, scope: Scope, *, cursor: str | None, limit: int
) -> Page[Webhook]:
    stmt = scoped(sa.select(webhooks), webhooks, scope)
    return paginate(conn, stmt, webhooks.c.id, _webhook, cursor=cursor, limit=limit)


def update_webhook(
    conn: Connection, scope: Scope, webhook_id: str, values: dict[str, Any]
) -> Webhook:
    get_webhook(conn, scope, webhook_id)
    stmt = scoped(webhooks.update().where(webhooks.c.id == webhook_id), webhooks, scope)
    conn.execute(stmt.values(**values))
    return get_webhook(conn, scope, webhook_id)


def delete_webhook(conn: Connection, scope: Scope, webhook_id: str) -> None:
    get_webhook(conn, scope, webhook_id)
    # explicit rather than relying on ON DELETE CASCADE (SQLite only honours it with the pragma)
    conn.execute(deliveries.delete().where(deliveries.c.webhook_id == webhook_id))
    conn.execute(webhooks.delete().where(webhooks.c.id == webhook_id))


def enabled_webhooks(conn: Connection, tenant_id: str) -> list[Webhook]:
    stmt = sa.select(webhooks).where(webhooks.c.tenant_id == tenant_id, webhooks.c.enabled)
    return [_webhook(r) for r in conn.execute(stmt.order_by(webhooks.c.id)).mappings()]


def record_outcome(conn: Connection, webhook_id: str, ok: bool) -> int:
    """Reset or extend the failure streak; returns the new streak length."""
    streak = 0 if ok else webhooks.c.failure_streak + 1
    stmt = webhooks.update().where(webhooks.c.id == webhook_id).values(failure_streak=streak)
    conn.execute(stmt)
    row = conn.execute(sa.select(webhooks.c.failure_streak).where(webhooks.c.id == webhook_id))
    return int(row.scalar_one_or_none() or 0)


def disable(conn: Connection, webhook_id: str, reason: str, at: datetime) -> bool:
    """Disable if still enabled (True when this call did it: only one notice is sent)."""
    stmt = (
        webhooks.update()
        .where(webhooks.c.id == webhook_id, webhooks.c.enabled)
        .values(enabled=False, disabled_reason=reason, updated_at=at)
    )
    return conn.execute(stmt).rowcount == 1


# --- deliveries -----------------------------------------------------------------------------


def deliverable() -> list[sa.ColumnElement[bool]]:
    """Which deliveries a dispatcher may claim: those of enabled webhooks, and any ping."""
    d, live = deliveries, sa.select(webhooks.c.id).where(webhooks.c.enabled)
    return [sa.or_(d.c.webhook_id.in_(live), d.c.event_type == "webhook.ping")]


def insert_deliveries(conn: Connection, rows: list[dict[str, Any]]) -> None:
    insert_ignoring_duplicates(conn, deliveries, rows, ["event_id", "webhook_id"])
    if rows:
        wakeups.notify(conn, wakeups.EVENTS)


def get_delivery(conn: Connection, scope: Scope, webhook_id: str, delivery_id: str) -> Delivery:
    stmt = scoped(
        sa.select(deliveries).where(
            deliveries.c.id == delivery_id, deliveries.c.webhook_id == webhook_id
        ),
        deliveries,
        scope,
    )
    return one(conn, stmt, _delivery, f"delivery {delivery_id!r} not found")


def list_deliveries(
    conn: Connection,
    scope: Scope,
    webhook_id: str,
    *,
    state: str | None,
    cursor: str | None,
    limit: int,
) -> Page[Delivery]:
    stmt = scoped(
        sa.select(deliveries).where(deliveries.c.webhook_id == webhook_id), deliveries, scope
    )
    if state:
        stmt = stmt.where(deliveries.c.state == state)
    return paginate(conn, stmt, deliveries.c.id, _delivery, cursor=cursor, limit=limit)


def delivery_from_row(row: RowMapping) -> Delivery:
    return _delivery(row)


def reset_delivery(conn: Connection, scope: Scope, delivery_id: str, at: datetime) -> bool:
    """Make a delivery due now with a fresh retry window; False while one is in flight."""
    stmt = scoped(deliveries.update(), deliveries, scope).where(
        deliveries.c.id == delivery_id, deliveries.c.state != DeliveryState.DELIVERING.value
    )
    values = {
        "state": DeliveryState.PENDING.value,
        "next_attempt_at": at,
        "window_start": at,
        "lease_until": None,
        "lease_token": None,
    }
    reset = conn.execute(stmt.values(**values)).rowcount == 1
    if reset:
        wakeups.notify(conn, wakeups.EVENTS)
    return reset

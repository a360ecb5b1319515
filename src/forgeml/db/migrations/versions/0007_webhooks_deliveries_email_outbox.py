"""webhooks, deliveries, e-mail outbox, notification preferences, dispatch cursor

Revision 0007 (revises 0002), created 2026-11-24 21:24:17.435728.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from forgeml.db.migrations.helpers import create_table, drop_table, fk, key, pk, ts, unique

revision = "0007"
down_revision = "0002"

# Non-unique indexes per table, shared by upgrade and downgrade (which drops them in reverse).
INDEXES: dict[str, list[str | tuple[str, ...]]] = {
    "dispatch_cursors": [],
    "email_outbox": [("state", "next_attempt_at"), "tenant_id"],
    "webhooks": ["tenant_id"],
    "deliveries": [("state", "next_attempt_at"), "tenant_id", "webhook_id"],
    "notification_prefs": [],
}


def upgrade() -> None:
    create_table(
        "dispatch_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        ts("updated_at"),
        pk("dispatch_cursors", "name"),
    )
    create_table(
        "email_outbox",
        key(),
        key("tenant_id", nullable=True),
        key("event_id"),
        key("user_id"),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        *_delivery_state(),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        ts("sent_at", nullable=True),
        ts("created_at"),
        pk("email_outbox"),
        unique("email_outbox", "event_id", "user_id"),
        indexes=INDEXES["email_outbox"],
    )
    create_table(
        "webhooks",
        key(),
        key("tenant_id"),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("failure_streak", sa.Integer(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=500), nullable=True),
        ts("created_at"),
        ts("updated_at"),
        fk("webhooks", "tenant_id", "tenants"),
        pk("webhooks"),
        indexes=INDEXES["webhooks"],
    )
    create_table(
        "deliveries",
        key(),
        key("tenant_id"),
        key("webhook_id"),
        key("event_id"),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        *_delivery_state(),
        ts("last_attempt_at", nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_duration_ms", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("last_response", sa.Text(), nullable=True),
        ts("delivered_at", nullable=True),
        ts("created_at"),
        fk("deliveries", "webhook_id", "webhooks", ondelete="CASCADE"),
        pk("deliveries"),
        unique("deliveries", "event_id", "webhook_id"),
        indexes=INDEXES["deliveries"],
    )
    create_table(
        "notification_prefs",
        key("user_id"),
        sa.Column("email_on_job_completed", sa.Boolean(), nullable=False),
        sa.Column("email_on_job_failed", sa.Boolean(), nullable=False),
        ts("updated_at"),
        fk("notification_prefs", "user_id", "users", ondelete="CASCADE"),
        pk("notification_prefs", "user_id"),
    )


def _delivery_state() -> list[sa.Column[Any]]:
    """The retry/lease columns that webhook deliveries and e-mails share (one outbox pattern)."""
    return [
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        ts("next_attempt_at"),
        ts("window_start"),
        ts("lease_until", nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
    ]


def downgrade() -> None:
    for table in reversed(INDEXES):
        drop_table(table, INDEXES[table])

"""webhooks, deliveries, e-mail outbox, notification preferences, dispatch cursor

Revision 0007 (revises 0002), created 2026-11-24 21:24:17.435728.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from forgeml.db.migrations import helpers as h

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
    h.create_table(
        "dispatch_cursors",
        h.string("name", 64),
        h.column("seq", sa.BigInteger()),
        h.ts("updated_at"),
        primary_key="name",
    )
    h.create_entity(
        "email_outbox",
        h.key("tenant_id", nullable=True),
        h.key("event_id"),
        h.key("user_id"),
        h.string("to_address", 320),
        h.string("subject", 300),
        h.column("text_body", sa.Text()),
        h.column("html_body", sa.Text()),
        *_delivery_state(),
        h.string("last_error", 1000, nullable=True),
        h.ts("sent_at", nullable=True),
        h.ts("created_at"),
        unique=[("event_id", "user_id")],
        indexes=INDEXES["email_outbox"],
    )
    h.create_entity(
        "webhooks",
        h.key("tenant_id"),
        h.string("url", 2000),
        h.column("events", sa.JSON()),
        h.string("description", 500),
        h.string("secret", 100),
        h.column("enabled", sa.Boolean()),
        h.column("failure_streak", sa.Integer()),
        h.string("disabled_reason", 500, nullable=True),
        *h.stamps(),
        h.fk("webhooks", "tenant_id", "tenants"),
        indexes=INDEXES["webhooks"],
    )
    h.create_entity(
        "deliveries",
        h.key("tenant_id"),
        h.key("webhook_id"),
        h.key("event_id"),
        h.string("event_type", 100),
        *_delivery_state(),
        h.ts("last_attempt_at", nullable=True),
        h.column("last_status_code", sa.Integer(), nullable=True),
        h.column("last_duration_ms", sa.Integer(), nullable=True),
        h.string("last_error", 1000, nullable=True),
        h.column("last_response", sa.Text(), nullable=True),
        h.ts("delivered_at", nullable=True),
        h.ts("created_at"),
        h.fk("deliveries", "webhook_id", "webhooks", ondelete="CASCADE"),
        unique=[("event_id", "webhook_id")],
        indexes=INDEXES["deliveries"],
    )
    h.create_table(
        "notification_prefs",
        h.key("user_id"),
        h.column("email_on_job_completed", sa.Boolean()),
        h.column("email_on_job_failed", sa.Boolean()),
        h.ts("updated_at"),
        h.fk("notification_prefs", "user_id", "users", ondelete="CASCADE"),
        primary_key="user_id",
    )


def _delivery_state() -> list[sa.Column[Any]]:
    """The retry/lease columns that webhook deliveries and e-mails share (one outbox pattern)."""
    return [
        h.string("state", 16),
        h.column("attempts", sa.Integer()),
        h.ts("next_attempt_at"),
        h.ts("window_start"),
        h.ts("lease_until", nullable=True),
        h.string("lease_token", 32, nullable=True),
    ]


def downgrade() -> None:
    for table in reversed(INDEXES):
        h.drop_table(table, INDEXES[table])

"""identity and audit

Revision 0001 (the first), created 2026-11-24 21:01:14.494169.
"""

from __future__ import annotations

import sqlalchemy as sa

from forgeml.db.migrations import helpers as h

revision = "0001"
down_revision = None

# Non-unique indexes per table, shared by upgrade and downgrade (which drops them in reverse).
INDEXES: dict[str, list[str | tuple[str, ...]]] = {
    "audit_events": ["action", "tenant_id"],
    "login_attempts": [("email", "at")],
    "tenants": [],
    "users": ["tenant_id"],
    "api_tokens": ["tenant_id", "user_id"],
    "browser_sessions": ["tenant_id", "user_id"],
}


def upgrade() -> None:
    h.create_entity(
        "audit_events",
        h.ts("at"),
        h.key("tenant_id", nullable=True),
        h.string("actor_id", 64, nullable=True),
        h.string("actor_email", 320, nullable=True),
        h.string("action", 100),
        h.string("target_type", 50, nullable=True),
        h.string("target_id", 64, nullable=True),
        h.string("outcome", 16),
        h.string("source_ip", 64, nullable=True),
        h.string("request_id", 64, nullable=True),
        h.column("details", sa.JSON()),
        indexes=INDEXES["audit_events"],
    )
    h.create_table(
        "login_attempts",
        h.serial(),
        h.string("email", 320),
        h.string("source_ip", 64, nullable=True),
        h.column("succeeded", sa.Boolean()),
        h.ts("at"),
        indexes=INDEXES["login_attempts"],
    )
    h.create_entity(
        "tenants",
        h.string("name", 63),
        h.string("display_name", 200),
        h.string("status", 16),
        h.column("storage_quota_bytes", sa.BigInteger(), nullable=True),
        *h.stamps(),
        unique=["name"],
    )
    h.create_entity(
        "users",
        h.key("tenant_id", nullable=True),
        h.string("email", 320),
        h.string("name", 200),
        h.string("role", 32),
        h.string("password_hash", 255, nullable=True),
        h.column("disabled", sa.Boolean()),
        *h.stamps(),
        h.ts("last_login_at", nullable=True),
        h.fk("users", "tenant_id", "tenants"),
        unique=["email"],
        indexes=INDEXES["users"],
    )
    h.create_entity(
        "api_tokens",
        h.key("user_id"),
        h.key("tenant_id", nullable=True),
        h.string("name", 200),
        h.string("prefix", 16),
        h.string("token_hash", 64),
        h.column("scopes", sa.JSON()),
        h.ts("created_at"),
        h.ts("expires_at", nullable=True),
        h.ts("revoked_at", nullable=True),
        h.ts("last_used_at", nullable=True),
        h.fk("api_tokens", "tenant_id", "tenants"),
        h.fk("api_tokens", "user_id", "users", ondelete="CASCADE"),
        unique=["token_hash"],
        indexes=INDEXES["api_tokens"],
    )
    h.create_entity(
        "browser_sessions",
        h.key("user_id"),
        h.key("tenant_id", nullable=True),
        h.string("token_hash", 64),
        h.string("csrf_token", 64),
        h.ts("created_at"),
        h.ts("expires_at"),
        h.ts("revoked_at", nullable=True),
        h.string("source_ip", 64, nullable=True),
        h.fk("browser_sessions", "tenant_id", "tenants"),
        h.fk("browser_sessions", "user_id", "users", ondelete="CASCADE"),
        unique=["token_hash"],
        indexes=INDEXES["browser_sessions"],
    )


def downgrade() -> None:
    for table in reversed(INDEXES):
        h.drop_table(table, INDEXES[table])

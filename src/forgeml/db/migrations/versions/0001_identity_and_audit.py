"""identity and audit

Revision 0001 (the first), created 2026-11-24 21:01:14.494169.
"""

from __future__ import annotations

import sqlalchemy as sa

from forgeml.db.migrations.helpers import create_table, drop_table, fk, key, pk, ts, unique

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
    create_table(
        "audit_events",
        key(),
        ts("at"),
        key("tenant_id", nullable=True),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("actor_email", sa.String(length=320), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("target_type", sa.String(length=50), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        pk("audit_events"),
        indexes=INDEXES["audit_events"],
    )
    create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        ts("at"),
        pk("login_attempts"),
        indexes=INDEXES["login_attempts"],
    )
    create_table(
        "tenants",
        key(),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("storage_quota_bytes", sa.BigInteger(), nullable=True),
        ts("created_at"),
        ts("updated_at"),
        pk("tenants"),
        unique("tenants", "name"),
    )
    create_table(
        "users",
        key(),
        key("tenant_id", nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        ts("created_at"),
        ts("updated_at"),
        ts("last_login_at", nullable=True),
        fk("users", "tenant_id", "tenants"),
        pk("users"),
        unique("users", "email"),
        indexes=INDEXES["users"],
    )
    create_table(
        "api_tokens",
        key(),
        key("user_id"),
        key("tenant_id", nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        ts("created_at"),
        ts("expires_at", nullable=True),
        ts("revoked_at", nullable=True),
        ts("last_used_at", nullable=True),
        fk("api_tokens", "tenant_id", "tenants"),
        fk("api_tokens", "user_id", "users", ondelete="CASCADE"),
        pk("api_tokens"),
        unique("api_tokens", "token_hash"),
        indexes=INDEXES["api_tokens"],
    )
    create_table(
        "browser_sessions",
        key(),
        key("user_id"),
        key("tenant_id", nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        ts("created_at"),
        ts("expires_at"),
        ts("revoked_at", nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        fk("browser_sessions", "tenant_id", "tenants"),
        fk("browser_sessions", "user_id", "users", ondelete="CASCADE"),
        pk("browser_sessions"),
        unique("browser_sessions", "token_hash"),
        indexes=INDEXES["browser_sessions"],
    )


def downgrade() -> None:
    for table in reversed(INDEXES):
        drop_table(table, INDEXES[table])

"""SQLAlchemy Core tables of the identity and audit part of the metadata database.

Every tenant-owned table carries `tenant_id`; `db/scope.py` filters on it in one place.
Later features add their tables in modules of their own that import `metadata` (or `entity`, a
table keyed by `id`) from here; shared column factories are in `db/columns.py`.
"""

from __future__ import annotations

import sqlalchemy as sa

from forgeml.db import columns as col

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = sa.MetaData(naming_convention=NAMING)


def entity(name: str, *items: sa.schema.SchemaItem) -> sa.Table:
    """A table of rows keyed by a 32-character id (`domain/ids.py`), as most tables are."""
    return sa.Table(name, metadata, col.id_column(), *items)


tenants = entity(
    "tenants",
    col.string("name", 63, unique=True),
    col.string("display_name", 200),
    col.string("status", 16),
    col.typed("storage_quota_bytes", sa.BigInteger, nullable=True),
    *col.stamps(),
    # Fair-share weight (db/shares.py): a tenant of weight 2 gets twice the share of one of 1.
    col.typed("weight", sa.Float, server_default=sa.text("1")),
)

users = entity(
    "users",
    col.tenant_column(nullable=True),
    col.string("email", 320, unique=True),
    col.string("name", 200),
    col.string("role", 32),
    col.string("password_hash", 255, nullable=True),
    col.typed("disabled", sa.Boolean, default=False),
    *col.stamps(),
    col.timestamp("last_login_at", nullable=True),
)

api_tokens = entity(
    "api_tokens",
    col.reference("user_id", "users", ondelete="CASCADE"),
    col.tenant_column(nullable=True),
    col.string("name", 200),
    col.string("prefix", 16),
    col.string("token_hash", 64, unique=True),
    col.typed("scopes", sa.JSON),
    col.timestamp("created_at"),
    col.timestamp("expires_at", nullable=True),
    col.timestamp("revoked_at", nullable=True),
    col.timestamp("last_used_at", nullable=True),
    sa.Index("ix_api_tokens_user_id", "user_id"),
)

browser_sessions = entity(
    "browser_sessions",
    col.reference("user_id", "users", ondelete="CASCADE"),
    col.tenant_column(nullable=True),
    col.string("token_hash", 64, unique=True),
    col.string("csrf_token", 64),
    col.timestamp("created_at"),
    col.timestamp("expires_at"),
    col.timestamp("revoked_at", nullable=True),
    col.string("source_ip", 64, nullable=True),
    sa.Index("ix_browser_sessions_user_id", "user_id"),
)

login_attempts = sa.Table(
    "login_attempts",
    metadata,
    col.serial(),
    col.string("email", 320),
    col.string("source_ip", 64, nullable=True),
    col.typed("succeeded", sa.Boolean),
    col.timestamp("at"),
    sa.Index("ix_login_attempts_email_at", "email", "at"),
)

audit_events = entity(
    "audit_events",
    col.timestamp("at"),
    col.tenant_column(nullable=True, references=False),
    col.string("actor_id", 64, nullable=True),
    col.string("actor_email", 320, nullable=True),
    col.string("action", 100, index=True),
    col.string("target_type", 50, nullable=True),
    col.string("target_id", 64, nullable=True),
    col.string("outcome", 16),
    col.string("source_ip", 64, nullable=True),
    col.string("request_id", 64, nullable=True),
    col.typed("details", sa.JSON),
)

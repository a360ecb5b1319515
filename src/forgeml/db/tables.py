"""SQLAlchemy Core tables of the identity and audit part of the metadata database.

Every tenant-owned table carries `tenant_id`; `db/scope.py` filters on it in one place.
Later features add their tables in modules of their own that import `metadata` from here.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from forgeml.db.types import UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = sa.MetaData(naming_convention=NAMING)

ID = sa.String(32)


# Column factories for the columns most tables share (a Column belongs to one table, so each
# table gets its own).
def id_column() -> sa.Column[str]:
    return sa.Column("id", ID, primary_key=True)


def tenant_column(*, nullable: bool, references: bool = True) -> sa.Column[str]:
    """The indexed `tenant_id` that `db/scope.py` filters on; `references=False` on child rows
    that copy it from their parent (the parent's foreign key already guards it)."""
    fk = (sa.ForeignKey("tenants.id"),) if references else ()
    return sa.Column("tenant_id", ID, *fk, nullable=nullable, index=True)


def timestamp(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, UTCDateTime, nullable=nullable)


tenants = sa.Table(
    "tenants",
    metadata,
    id_column(),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("storage_quota_bytes", sa.BigInteger, nullable=True),
    timestamp("created_at"),
    timestamp("updated_at"),
)

users = sa.Table(
    "users",
    metadata,
    id_column(),
    tenant_column(nullable=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    timestamp("created_at"),
    timestamp("updated_at"),
    timestamp("last_login_at", nullable=True),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    id_column(),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    tenant_column(nullable=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.JSON, nullable=False),
    timestamp("created_at"),
    timestamp("expires_at", nullable=True),
    timestamp("revoked_at", nullable=True),
    timestamp("last_used_at", nullable=True),
    sa.Index("ix_api_tokens_user_id", "user_id"),
)

browser_sessions = sa.Table(
    "browser_sessions",
    metadata,
    id_column(),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    tenant_column(nullable=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    timestamp("created_at"),
    timestamp("expires_at"),
    timestamp("revoked_at", nullable=True),
    sa.Column("source_ip", sa.String(64), nullable=True),
    sa.Index("ix_browser_sessions_user_id", "user_id"),
)

login_attempts = sa.Table(
    "login_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("source_ip", sa.String(64), nullable=True),
    sa.Column("succeeded", sa.Boolean, nullable=False),
    timestamp("at"),
    sa.Index("ix_login_attempts_email_at", "email", "at"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    id_column(),
    timestamp("at"),
    tenant_column(nullable=True, references=False),
    sa.Column("actor_id", sa.String(64), nullable=True),
    sa.Column("actor_email", sa.String(320), nullable=True),
    sa.Column("action", sa.String(100), nullable=False, index=True),
    sa.Column("target_type", sa.String(50), nullable=True),
    sa.Column("target_id", sa.String(64), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("source_ip", sa.String(64), nullable=True),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("details", sa.JSON, nullable=False),
)

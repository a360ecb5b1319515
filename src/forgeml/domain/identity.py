"""Tenants, users, credentials and the authenticated principal (pure data, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from forgeml.domain.errors import InvalidInput

TENANT_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# \x85 and \ufeff spelled out: `\s` differs between Python, the API's validator (Rust) and JSON
# Schema (ECMA) on exactly these two, and the schema must refuse what the API refuses.
EMAIL_RE = re.compile(r"^[^@\s\x00-\x1f\x85\ufeff]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


class Role(StrEnum):
    PLATFORM_ADMIN = "platform-admin"
    TENANT_ADMIN = "tenant-admin"
    MEMBER = "member"
    VIEWER = "viewer"


TENANT_ROLES = (Role.TENANT_ADMIN, Role.MEMBER, Role.VIEWER)


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class TokenScope(StrEnum):
    """What a token may do; a token without `write` is read-only."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    display_name: str
    status: TenantStatus
    storage_quota_bytes: int | None
    created_at: datetime
    updated_at: datetime
    weight: float = 1.0  # fair-share weight (domain/fairshare.py)


@dataclass(frozen=True)
class User:
    id: str
    tenant_id: str | None
    email: str
    name: str
    role: Role
    disabled: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class ApiToken:
    id: str
    user_id: str
    tenant_id: str | None
    name: str
    prefix: str
    scopes: tuple[TokenScope, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class Credential:
    """A token or session with its user and the user's tenant status, read in one query."""

    id: str
    user_id: str
    email: str
    role: Role
    tenant_id: str | None
    user_disabled: bool
    tenant_status: TenantStatus | None  # None: no tenant row (platform users have none)
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = None  # tokens only
    scopes: tuple[TokenScope, ...] = ()  # tokens only
    csrf_token: str = ""  # sessions only

    def usable(self, now: datetime) -> bool:
        """Not revoked, not expired, user enabled, and the tenant (if any) active."""
        if self.revoked_at is not None or (self.expires_at and self.expires_at <= now):
            return False
        if self.user_disabled:
            return False
        return self.tenant_id is None or self.tenant_status is TenantStatus.ACTIVE


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved once per request from a token or a session."""

    user_id: str
    email: str
    role: Role
    tenant_id: str | None
    via: str  # "token" | "session" | "system"
    token_id: str | None = None
    scopes: frozenset[TokenScope] = field(
        default_factory=lambda: frozenset({TokenScope.READ, TokenScope.WRITE})
    )
    session_id: str | None = None

    @property
    def is_platform_admin(self) -> bool:
        return self.role is Role.PLATFORM_ADMIN

    @property
    def can_write(self) -> bool:
        return TokenScope.WRITE in self.scopes


SYSTEM = Principal(
    user_id="system", email="system", role=Role.PLATFORM_ADMIN, tenant_id=None, via="system"
)


def normalize_email(email: str) -> str:
    email = email.strip()
    if not EMAIL_RE.match(email):
        raise InvalidInput.fields([{"loc": "email", "msg": "not a valid e-mail address"}])
    local, domain = email.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def check_tenant_name(name: str) -> str:
    if not TENANT_NAME_RE.match(name):
        raise InvalidInput.fields(
            [{"loc": "name", "msg": "use 1-63 lower-case letters, digits and inner hyphens"}]
        )
    return name


PASSWORD_MIN_LEN = 10
PASSWORD_MAX_LEN = 1024


def check_password(password: str) -> str:
    if not PASSWORD_MIN_LEN <= len(password) <= PASSWORD_MAX_LEN:
        msg = f"use {PASSWORD_MIN_LEN} to {PASSWORD_MAX_LEN} characters"
        raise InvalidInput.fields([{"loc": "password", "msg": msg}])
    return password

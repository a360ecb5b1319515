"""Authentication: resolving tokens and sessions to principals, login with throttling, bootstrap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from forgeml.config import AuthSettings
from forgeml.db import credentials as creds
from forgeml.db import identity as q
from forgeml.db.engine import Database
from forgeml.db.scope import Scope
from forgeml.db.types import utcnow
from forgeml.domain.errors import TooManyRequests, Unauthenticated
from forgeml.domain.identity import (
    Credential,
    Principal,
    Role,
    TenantStatus,
    TokenScope,
    User,
    normalize_email,
)
from forgeml.domain.ids import new_id
from forgeml.services.identity.audit import Actor, record
from forgeml.services.identity.secrets import (
    hash_password,
    hash_token,
    new_api_token,
    new_password,
    new_session_secret,
    verify_password,
)

_TOUCH_EVERY = timedelta(seconds=60)  # last-used bookkeeping without a write per request


@dataclass(frozen=True)
class NewSession:
    cookie: str
    csrf_token: str
    principal: Principal


@dataclass(frozen=True)
class BootstrapResult:
    user: User
    password: str
    token: str


def _principal(cred: Credential, **via: Any) -> Principal:
    """Who a usable token or session stands for; `via` names which one (and its id)."""
    return Principal(
        user_id=cred.user_id, email=cred.email, role=cred.role, tenant_id=cred.tenant_id, **via
    )


class AuthService:
    def __init__(self, db: Database, auth: AuthSettings) -> None:
        self.db = db
        self.auth = auth

    def _usable(self, conn: object, user: User) -> bool:
        if user.disabled:
            return False
        if user.tenant_id is None:
            return True
        tenant = q.get_tenant(conn, Scope.everything(), user.tenant_id)  # type: ignore[arg-type]
        return tenant.status is TenantStatus.ACTIVE

    def principal_from_token(self, raw: str) -> Principal:
        """Resolve a bearer token; revocation, expiry, a disabled user and a suspended tenant are
        checked on every call (one query, no cache)."""
        now = utcnow()
        with self.db.read() as conn:
            cred = creds.find_token(conn, hash_token(raw))
        if cred is None or not cred.usable(now):
            raise Unauthenticated()
        if cred.last_used_at is None or now - cred.last_used_at > _TOUCH_EVERY:
            with self.db.write() as conn:
                q.touch_token(conn, cred.id, now)
        return _principal(cred, via="token", token_id=cred.id, scopes=frozenset(cred.scopes))

    def principal_from_session(self, raw: str) -> tuple[Principal, str]:
        """Return the session's principal and its CSRF token (checked like tokens)."""
        with self.db.read() as conn:
            cred = creds.find_session(conn, hash_token(raw))
        if cred is None or not cred.usable(utcnow()):
            raise Unauthenticated()
        return _principal(cred, via="session", session_id=cred.id), cred.csrf_token

    def check_password(self, actor: Actor, email: str, password: str) -> User:
        """Verify a login; throttled per e-mail after repeated failures (shared by all replicas)."""
        cfg = self.auth
        now = utcnow()
        try:
            email = normalize_email(email)
        except Exception:
            raise Unauthenticated() from None
        with self.db.read() as conn:
            failures = q.recent_login_failures(
                conn, email, now - timedelta(seconds=cfg.login_window_s)
            )
        if failures >= cfg.login_max_failures:
            raise TooManyRequests(
                "too many failed logins; try again later",
                details={"retry_after_s": cfg.login_window_s},
            )
        with self.db.read() as conn:
            found = q.find_user_for_login(conn, email)
            ok = verify_password(found[1] if found else None, password)
            ok = ok and found is not None and self._usable(conn, found[0])
        with self.db.write() as conn:
            q.record_login_attempt(conn, email, actor.source_ip, ok, now)
            if not ok or found is None:
                # recorded and committed before raising: the failure must count for throttling
                record(
                    conn,
                    actor,
                    "auth.login",
                    outcome="failure",
                    details={"email": email},
                    tenant_id=found[0].tenant_id if found else None,
                )
                user = None
            else:
                user = q.update_user(conn, Scope.everything(), found[0].id, {"last_login_at": now})
                actor.principal = Principal(
                    user_id=user.id,
                    email=user.email,
                    role=user.role,
                    tenant_id=user.tenant_id,
                    via="password",
                )
                record(conn, actor, "auth.login", "user", user.id)
        if user is None:
            raise Unauthenticated()
        return user

    def create_session(self, actor: Actor, user: User) -> NewSession:
        cookie, digest, csrf = new_session_secret()
        now = utcnow()
        sid = new_id("ses")
        with self.db.write() as conn:
            q.insert_session(
                conn,
                {
                    "id": sid,
                    "user_id": user.id,
                    "tenant_id": user.tenant_id,
                    "token_hash": digest,
                    "csrf_token": csrf,
                    "created_at": now,
                    "revoked_at": None,
                    "source_ip": actor.source_ip,
                    "expires_at": now + timedelta(seconds=self.auth.session_ttl_s),
                },
            )
        p = Principal(
            user_id=user.id,
            email=user.email,
            role=user.role,
            tenant_id=user.tenant_id,
            via="session",
            session_id=sid,
        )
        return NewSession(cookie=cookie, csrf_token=csrf, principal=p)

    def logout(self, actor: Actor) -> None:
        p = actor.p
        with self.db.write() as conn:
            if p.session_id:
                q.revoke_session(conn, p.session_id, utcnow())
            record(conn, actor, "auth.logout", "user", p.user_id)

    def bootstrap(
        self, actor: Actor, email: str, password: str | None = None
    ) -> BootstrapResult | None:
        """Create the first platform admin and a token; None when one already exists."""
        now = utcnow()
        password = password or new_password()
        secret, prefix, digest = new_api_token()
        with self.db.write() as conn:
            if q.count_platform_admins(conn) > 0:
                return None
            user = q.insert_user(
                conn,
                {
                    "id": new_id("usr"),
                    "tenant_id": None,
                    "email": normalize_email(email),
                    "name": "admin",
                    "role": Role.PLATFORM_ADMIN.value,
                    "password_hash": hash_password(password),
                    "disabled": False,
                    "created_at": now,
                    "updated_at": now,
                    "last_login_at": None,
                },
            )
            q.insert_token(
                conn,
                {
                    "id": new_id("tok"),
                    "user_id": user.id,
                    "tenant_id": None,
                    "name": "bootstrap",
                    "prefix": prefix,
                    "token_hash": digest,
                    "scopes": [s.value for s in TokenScope],
                    "created_at": now,
                    "expires_at": None,
                    "revoked_at": None,
                    "last_used_at": None,
                },
            )
            record(conn, actor, "platform.bootstrap", "user", user.id)
        return BootstrapResult(user=user, password=password, token=secret)

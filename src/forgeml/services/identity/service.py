"""Use cases for tenants, users and API tokens. Each method owns its transaction and audit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from forgeml.config import AuthSettings
from forgeml.db import identity as q
from forgeml.db.engine import Database
from forgeml.db.pagination import Page
from forgeml.db.scope import Scope
from forgeml.db.types import utcnow
from forgeml.domain.authz import Perm, allowed, require
from forgeml.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from forgeml.domain.identity import (
    ApiToken,
    Role,
    Tenant,
    TenantStatus,
    TokenScope,
    User,
    check_password,
    check_tenant_name,
    normalize_email,
)
from forgeml.domain.ids import new_id
from forgeml.services.identity.audit import Actor, record
from forgeml.services.identity.secrets import hash_password, new_api_token


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once


class TenantService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self, actor: Actor, name: str, display_name: str | None, quota: int | None
    ) -> Tenant:
        require(actor.p, Perm.TENANTS_MANAGE)
        now = utcnow()
        values = {
            "id": new_id("tnt"),
            "name": check_tenant_name(name),
            "display_name": display_name or name,
            "status": TenantStatus.ACTIVE.value,
            "storage_quota_bytes": quota,
            "created_at": now,
            "updated_at": now,
        }
        with self.db.write() as conn:
            tenant = q.insert_tenant(conn, values)
            record(conn, actor, "tenant.create", "tenant", tenant.id, tenant_id=tenant.id)
        return tenant

    def get(self, actor: Actor, tenant_id: str) -> Tenant:
        require(actor.p, Perm.TENANT_READ)
        with self.db.read() as conn:
            return q.get_tenant(conn, Scope.of(actor.p), tenant_id)

    def list(
        self, actor: Actor, *, status: str | None, cursor: str | None, limit: int
    ) -> Page[Tenant]:
        require(actor.p, Perm.TENANT_READ)
        with self.db.read() as conn:
            return q.list_tenants(
                conn, Scope.of(actor.p), status=status, cursor=cursor, limit=limit
            )

    def update(self, actor: Actor, tenant_id: str, changes: dict[str, Any]) -> Tenant:
        """Rename, change display name, quota or fair-share weight, suspend (`status`) — platform
        admins only."""
        scope = Scope.of(actor.p)
        with self.db.read() as conn:
            q.get_tenant(conn, scope, tenant_id)  # 404 before 403 for foreign ids
        require(actor.p, Perm.TENANTS_MANAGE)
        values: dict[str, Any] = {}
        if "name" in changes:
            values["name"] = check_tenant_name(changes["name"])
        if "display_name" in changes:
            values["display_name"] = changes["display_name"]
        if "storage_quota_bytes" in changes:
            values["storage_quota_bytes"] = changes["storage_quota_bytes"]
        if "status" in changes:
            values["status"] = TenantStatus(changes["status"]).value
        if "weight" in changes:  # fair share (db/shares.py); the API bounds it to 0.01-1000
            values["weight"] = float(changes["weight"])
        values["updated_at"] = utcnow()
        with self.db.write() as conn:
            tenant = q.update_tenant(conn, scope, tenant_id, values)
            action = "tenant.update"
            if "status" in changes:
                action = "tenant.suspend" if values["status"] == "suspended" else "tenant.resume"
            fields = sorted(k for k in values if k != "updated_at")
            record(
                conn,
                actor,
                action,
                "tenant",
                tenant_id,
                tenant_id=tenant_id,
                details={"fields": fields},
            )
        return tenant


class UserService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _check_role_change(self, actor: Actor, role: Role) -> None:
        if role is Role.PLATFORM_ADMIN and not actor.p.is_platform_admin:
            raise Forbidden("only platform admins can grant the platform-admin role")

    def create(
        self,
        actor: Actor,
        *,
        email: str,
        name: str | None,
        role: Role,
        password: str | None,
        tenant_id: str | None,
    ) -> User:
        p = actor.p
        require(p, Perm.USERS_MANAGE)
        self._check_role_change(actor, role)
        if not p.is_platform_admin:
            if tenant_id not in (None, p.tenant_id):
                raise NotFound(f"tenant {tenant_id!r} not found")
            tenant_id = p.tenant_id
        if role is Role.PLATFORM_ADMIN and tenant_id is not None:
            raise InvalidInput.fields(
                [{"loc": "tenant_id", "msg": "platform admins belong to no tenant"}]
            )
        if role is not Role.PLATFORM_ADMIN and tenant_id is None:
            raise InvalidInput.fields([{"loc": "tenant_id", "msg": "required for tenant roles"}])
        email = normalize_email(email)
        now = utcnow()
        values = {
            "id": new_id("usr"),
            "tenant_id": tenant_id,
            "email": email,
            "name": name or email.split("@")[0],
            "role": role.value,
            "password_hash": hash_password(check_password(password)) if password else None,
            "disabled": False,
            "created_at": now,
            "updated_at": now,
            "last_login_at": None,
        }
        with self.db.write() as conn:
            if tenant_id is not None:
                q.get_tenant(conn, Scope.of(p), tenant_id)
            user = q.insert_user(conn, values)
            record(
                conn,
                actor,
                "user.create",
                "user",
                user.id,
                tenant_id=tenant_id,
                details={"role": role.value},
            )
        return user

    def get(self, actor: Actor, user_id: str) -> User:
        with self.db.read() as conn:
            user = q.get_user(conn, Scope.of(actor.p), user_id)
        if user.id != actor.p.user_id:
            require(actor.p, Perm.USERS_READ)
        return user

    def list(
        self,
        actor: Actor,
        *,
        tenant_id: str | None,
        role: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page[User]:
        require(actor.p, Perm.USERS_READ)
        with self.db.read() as conn:
            return q.list_users(
                conn, Scope.of(actor.p), tenant_id=tenant_id, role=role, cursor=cursor, limit=limit
            )

    def update(self, actor: Actor, user_id: str, changes: dict[str, Any]) -> User:
        scope = Scope.of(actor.p)
        with self.db.read() as conn:
            target = q.get_user(conn, scope, user_id)
        self_service = target.id == actor.p.user_id and set(changes) <= {"name", "password"}
        if not (self_service and allowed(actor.p, Perm.TOKENS_MANAGE_OWN)):
            require(actor.p, Perm.USERS_MANAGE)
        values: dict[str, Any] = {"updated_at": utcnow()}
        if "role" in changes:
            role = Role(changes["role"])
            self._check_role_change(actor, role)
            if target.role is Role.PLATFORM_ADMIN and not actor.p.is_platform_admin:
                raise Forbidden("only platform admins can change a platform admin")
            if (role is Role.PLATFORM_ADMIN) != (target.tenant_id is None):
                raise InvalidInput.fields(
                    [{"loc": "role", "msg": "cannot move a user between tenant and platform roles"}]
                )
            values["role"] = role.value
        if "name" in changes:
            values["name"] = changes["name"]
        if "disabled" in changes:
            values["disabled"] = bool(changes["disabled"])
        if "password" in changes:
            values["password_hash"] = hash_password(check_password(changes["password"]))
        with self.db.write() as conn:
            user = q.update_user(conn, scope, user_id, values)
            self._keep_one_admin(conn, target, values)
            record(
                conn,
                actor,
                "user.update",
                "user",
                user_id,
                tenant_id=target.tenant_id,
                details={
                    "fields": sorted(
                        k for k in values if k != "updated_at" and k != "password_hash"
                    )
                    + (["password"] if "password_hash" in values else [])
                },
            )
        return user

    def _keep_one_admin(self, conn: Any, target: User, values: dict[str, Any]) -> None:
        if target.role is Role.PLATFORM_ADMIN and q.count_platform_admins(conn) == 0:
            raise Conflict("the last platform admin cannot be removed or demoted")
        if target.role is Role.PLATFORM_ADMIN and values.get("disabled"):
            raise Conflict("platform admins cannot be disabled; demote or delete instead")

    def delete(self, actor: Actor, user_id: str) -> None:
        scope = Scope.of(actor.p)
        with self.db.read() as conn:
            target = q.get_user(conn, scope, user_id)
        require(actor.p, Perm.USERS_MANAGE)
        if target.role is Role.PLATFORM_ADMIN and not actor.p.is_platform_admin:
            raise Forbidden("only platform admins can delete a platform admin")
        with self.db.write() as conn:
            q.delete_user(conn, scope, user_id)
            self._keep_one_admin(conn, target, {})
            record(conn, actor, "user.delete", "user", user_id, tenant_id=target.tenant_id)


class TokenService:
    def __init__(self, db: Database, auth: AuthSettings) -> None:
        self.db = db
        self.auth = auth

    def create(
        self,
        actor: Actor,
        *,
        name: str,
        scopes: list[TokenScope] | None,
        expires_in_days: int | None,
        user_id: str | None,
    ) -> NewToken:
        p = actor.p
        target_id = user_id or p.user_id
        with self.db.read() as conn:
            target = q.get_user(conn, Scope.of(p), target_id)
        require(p, Perm.TOKENS_MANAGE_ALL if target.id != p.user_id else Perm.TOKENS_MANAGE_OWN)
        if p.token_id is not None and not set(scopes or list(TokenScope)) <= set(p.scopes):
            raise Forbidden("a token cannot create a token with more scopes than its own")
        days = expires_in_days if expires_in_days is not None else self.auth.token_default_ttl_days
        now = utcnow()
        secret, prefix, digest = new_api_token()
        values = {
            "id": new_id("tok"),
            "user_id": target.id,
            "tenant_id": target.tenant_id,
            "name": name,
            "prefix": prefix,
            "token_hash": digest,
            "scopes": [s.value for s in (scopes or list(TokenScope))],
            "created_at": now,
            "expires_at": now + timedelta(days=days) if days else None,
            "revoked_at": None,
            "last_used_at": None,
        }
        with self.db.write() as conn:
            token = q.insert_token(conn, values)
            record(
                conn,
                actor,
                "token.create",
                "token",
                token.id,
                tenant_id=target.tenant_id,
                details={"user_id": target.id, "scopes": values["scopes"]},
            )
        return NewToken(token=token, secret=secret)

    def _own_only(self, actor: Actor) -> str | None:
        return None if allowed(actor.p, Perm.TOKENS_MANAGE_ALL) else actor.p.user_id

    def get(self, actor: Actor, token_id: str) -> ApiToken:
        with self.db.read() as conn:
            return q.get_token(conn, Scope.of(actor.p), token_id, user_id=self._own_only(actor))

    def list(
        self, actor: Actor, *, user_id: str | None, cursor: str | None, limit: int
    ) -> Page[ApiToken]:
        own = self._own_only(actor)
        with self.db.read() as conn:
            return q.list_tokens(
                conn, Scope.of(actor.p), user_id=own or user_id, cursor=cursor, limit=limit
            )

    def revoke(self, actor: Actor, token_id: str) -> ApiToken:
        own = self._own_only(actor)
        scope = Scope.of(actor.p)
        with self.db.read() as conn:
            q.get_token(conn, scope, token_id, user_id=own)
        if own is not None:
            require(actor.p, Perm.TOKENS_MANAGE_OWN)
        with self.db.write() as conn:
            token = q.revoke_token(conn, scope, token_id, utcnow(), user_id=own)
            record(conn, actor, "token.revoke", "token", token_id, tenant_id=token.tenant_id)
        return token

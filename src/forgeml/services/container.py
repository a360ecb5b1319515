"""The services of one process, built once from Settings in `main` and shared by transports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.services.audit import AuditService
from forgeml.services.auth import AuthService
from forgeml.services.identity import TenantService, TokenService, UserService
from forgeml.storage.base import ObjectStore


@dataclass
class Services:
    settings: Settings
    db: Database
    store: ObjectStore
    auth: AuthService
    tenants: TenantService
    users: UserService
    tokens: TokenService
    audit: AuditService
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, db: Database, store: ObjectStore) -> Services:
        return cls(
            settings=settings,
            db=db,
            store=store,
            auth=AuthService(db, settings),
            tenants=TenantService(db),
            users=UserService(db),
            tokens=TokenService(db, settings),
            audit=AuditService(db),
        )

    def close(self) -> None:
        self.db.dispose()

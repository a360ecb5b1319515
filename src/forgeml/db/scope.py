"""Tenant scoping in one place: every query on a tenant-owned table goes through `scoped`.

A tenant principal gets `Scope(tenant_id=...)` and can only ever match rows of its tenant, so a
foreign id looks exactly like a missing one (404). Platform admins get `Scope.everything()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa

from forgeml.domain.identity import Principal

S = TypeVar("S", sa.Select[tuple[object, ...]], sa.Update, sa.Delete)


@dataclass(frozen=True)
class Scope:
    tenant_id: str | None  # None: all tenants (platform side)

    @classmethod
    def everything(cls) -> Scope:
        return cls(None)

    @classmethod
    def of(cls, principal: Principal) -> Scope:
        if principal.is_platform_admin:
            return cls(None)
        if principal.tenant_id is None:  # a tenant role without a tenant sees nothing
            return cls("\x00none")
        return cls(principal.tenant_id)

    @property
    def is_global(self) -> bool:
        return self.tenant_id is None


def scoped(stmt: S, table: sa.Table, scope: Scope, column: str = "tenant_id") -> S:
    """Restrict `stmt` to the rows of `scope`'s tenant (no-op for global scope)."""
    if scope.tenant_id is None:
        return stmt
    return stmt.where(table.c[column] == scope.tenant_id)

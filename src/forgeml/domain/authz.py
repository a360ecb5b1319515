"""Authorization rules in one table: which role may do what, and what a token scope allows.

Visibility (another tenant's object → 404) is the data layer's job (`db/scope.py`); this module only
answers "may this principal, who can see the object, perform the action" (→ 403).
"""

from __future__ import annotations

from enum import StrEnum

from forgeml.domain.errors import Forbidden
from forgeml.domain.identity import Principal, Role


class Perm(StrEnum):
    TENANTS_MANAGE = "tenants.manage"
    TENANT_READ = "tenant.read"
    USERS_READ = "users.read"
    USERS_MANAGE = "users.manage"
    TOKENS_MANAGE_OWN = "tokens.manage_own"
    TOKENS_MANAGE_ALL = "tokens.manage_all"
    AUDIT_READ = "audit.read"
    DATA_READ = "data.read"
    DATA_WRITE = "data.write"
    JOBS_READ = "jobs.read"
    JOBS_WRITE = "jobs.write"
    ALGORITHMS_READ = "algorithms.read"
    PLATFORM_MANAGE = "platform.manage"
    WEBHOOKS_MANAGE = "webhooks.manage"


_READ_ONLY = {Perm.TENANT_READ, Perm.DATA_READ, Perm.JOBS_READ, Perm.ALGORITHMS_READ}
_MEMBER = _READ_ONLY | {Perm.TOKENS_MANAGE_OWN, Perm.DATA_WRITE, Perm.JOBS_WRITE}
_TENANT_ADMIN = _MEMBER | {
    Perm.USERS_READ,
    Perm.USERS_MANAGE,
    Perm.TOKENS_MANAGE_ALL,
    Perm.AUDIT_READ,
    Perm.WEBHOOKS_MANAGE,
}

ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.VIEWER: frozenset(_READ_ONLY | {Perm.TOKENS_MANAGE_OWN}),
    Role.MEMBER: frozenset(_MEMBER),
    Role.TENANT_ADMIN: frozenset(_TENANT_ADMIN),
    Role.PLATFORM_ADMIN: frozenset(Perm),
}

# Read-only permissions: allowed for tokens without the write scope.
READ_PERMS = frozenset(
    {Perm.TENANT_READ, Perm.USERS_READ, Perm.AUDIT_READ, Perm.DATA_READ}
    | {Perm.JOBS_READ, Perm.ALGORITHMS_READ}
)


def allowed(principal: Principal, perm: Perm) -> bool:
    if perm not in ROLE_PERMS[principal.role]:
        return False
    return perm in READ_PERMS or principal.can_write


def require(principal: Principal, perm: Perm) -> None:
    """Raise Forbidden unless the principal's role and token scopes allow `perm`."""
    if not allowed(principal, perm):
        raise Forbidden(
            f"your role or token scope does not allow {perm.value}",
            details={"permission": perm.value, "role": principal.role.value},
        )

"""The audit trail: who did what to which object, from where, with what outcome.

Successful changes are recorded inside the transaction that makes them, so a change and its audit
event commit together; refusals and failures are recorded on their own afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from forgeml.db import audit as audit_db
from forgeml.db.engine import Database
from forgeml.db.pagination import Page
from forgeml.db.scope import Scope
from forgeml.db.types import utcnow
from forgeml.domain.authz import Perm, require
from forgeml.domain.errors import Unauthenticated
from forgeml.domain.filters import AuditFilter
from forgeml.domain.identity import Principal
from forgeml.domain.ids import new_id


@dataclass
class Actor:
    """The caller of a use case plus request facts the audit log keeps."""

    principal: Principal | None
    source_ip: str | None = None
    request_id: str | None = None
    audited: list[str] = field(default_factory=list)  # actions recorded during this request

    @property
    def p(self) -> Principal:
        if self.principal is None:
            raise Unauthenticated()
        return self.principal


def record(
    conn: Connection,
    actor: Actor,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    *,
    tenant_id: str | None = None,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit event using `conn`'s transaction: `action` on (`target_type`, `target_id`),
    in `tenant_id` (default: the actor's tenant)."""
    p = actor.principal
    conn_tenant = tenant_id if tenant_id is not None else (p.tenant_id if p else None)
    audit_db.insert_event(
        conn,
        {
            "id": new_id("aud"),
            "at": utcnow(),
            "tenant_id": conn_tenant,
            "actor_id": p.user_id if p else None,
            "actor_email": p.email if p else None,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "outcome": outcome,
            "source_ip": actor.source_ip,
            "request_id": actor.request_id,
            "details": details or {},
        },
    )
    actor.audited.append(action)


class AuditService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record_standalone(self, actor: Actor, action: str, **kw: Any) -> None:
        """Record in a transaction of its own (refusals, failures, reads)."""
        with self.db.write() as conn:
            record(conn, actor, action, **kw)

    def list(
        self, actor: Actor, flt: AuditFilter, *, cursor: str | None, limit: int
    ) -> Page[audit_db.AuditEvent]:
        require(actor.p, Perm.AUDIT_READ)
        with self.db.read() as conn:
            return audit_db.list_events(conn, Scope.of(actor.p), flt, cursor=cursor, limit=limit)

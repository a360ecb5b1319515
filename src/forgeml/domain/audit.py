"""An audit event as the trail records it (pure data): who did what to which target, and how
it ended. `db/audit.py` stores and reads them; the audit API renders them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AuditEvent:
    id: str
    at: datetime
    tenant_id: str | None
    actor_id: str | None
    actor_email: str | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    source_ip: str | None
    request_id: str | None
    details: dict[str, Any]

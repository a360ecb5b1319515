"""What a list may be filtered by: value objects the API and the portal build from a request, and
services hand to `db/` queries (so no transport imports `db/`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class JobFilter:
    """Training jobs: a status (primary or secondary), a name prefix, a creation window, tags."""

    status: str | None = None
    name_contains: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    tags: dict[str, str] | None = None


@dataclass(frozen=True)
class AuditFilter:
    """Audit events: who did what to which object, with which outcome, when."""

    action: str | None = None
    actor_id: str | None = None
    actor_email: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    tenant_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

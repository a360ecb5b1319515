"""Reading the event outbox for people: the catalogue, and tenant-scoped reads for live streams.

The SSE route polls `read()` from a worker thread; the scope comes from the principal, so a
tenant's stream can only ever contain its own tenant's events.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from forgeml.db import events as events_db
from forgeml.db.dispatch import latest_seq
from forgeml.db.engine import Database
from forgeml.db.scope import Scope
from forgeml.domain.authz import Perm, require
from forgeml.domain.errors import InvalidInput
from forgeml.domain.events import CATALOGUE, check_patterns, envelope, matches
from forgeml.services.identity.audit import Actor


@dataclass(frozen=True)
class StreamFilter:
    scope: Scope
    types: tuple[str, ...]  # patterns; empty: every type


class EventService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self.open_streams = 0  # live SSE connections in this process (tests and metrics read it)

    def types(self) -> list[dict[str, Any]]:
        return [
            {
                "type": t.name,
                "version": t.version,
                "description": t.description,
                "schema": t.schema(),
            }
            for t in CATALOGUE.values()
        ]

    def stream_filter(
        self, actor: Actor, *, types: list[str], tenant_id: str | None
    ) -> StreamFilter:
        """Who may read what: tenant principals their tenant; platform admins any (or one)."""
        require(actor.p, Perm.TENANT_READ)
        scope = Scope.of(actor.p)
        if tenant_id is not None:
            if not scope.is_global:
                if tenant_id != scope.tenant_id:
                    raise InvalidInput.fields(
                        [{"loc": "tenant_id", "msg": "only platform admins filter by tenant"}]
                    )
            else:
                scope = Scope(tenant_id)
        patterns = tuple(check_patterns(types, "types")) if types else ()
        return StreamFilter(scope=scope, types=patterns)

    def read(
        self, flt: StreamFilter, after_seq: int, limit: int = 200
    ) -> tuple[list[tuple[int, dict[str, Any]]], int, bool]:
        """(seq and envelope of each matching event, new cursor, whether more are waiting)."""
        with self.db.read() as conn:
            batch = events_db.after(conn, flt.scope, after_seq, limit=limit)
        out = [(e.seq, envelope(e)) for e in batch if not flt.types or matches(flt.types, e.type)]
        return out, (batch[-1].seq if batch else after_seq), len(batch) == limit

    def latest_seq(self, flt: StreamFilter) -> int:
        """Where a stream without a resume point starts: after everything that exists now."""
        with self.db.read() as conn:
            return latest_seq(conn, flt.scope)

    def stream_opened(self) -> None:
        with self._lock:
            self.open_streams += 1

    def stream_closed(self) -> None:
        with self._lock:
            self.open_streams -= 1

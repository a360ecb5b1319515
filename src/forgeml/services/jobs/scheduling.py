"""Scheduling administration: resource classes (≈ instance types), runners and queue depth.

Resource classes and runners are platform-owned; tenants may read the classes (to pick one),
only platform admins change them or see runners.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from forgeml.db import job_queries as q
from forgeml.db import shares
from forgeml.db.engine import Database
from forgeml.db.types import utcnow
from forgeml.domain.authz import Perm, require
from forgeml.domain.errors import InvalidInput
from forgeml.domain.job_model import ResourceClass, Runner, instance_type_problem
from forgeml.queue import pending, stats
from forgeml.services.identity.audit import Actor, record

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789.-_")


@dataclass(frozen=True)
class SchedulerFigures:
    """What `/metrics` shows of the scheduler: queued jobs per (tenant, class), and per tenant
    its weight, running share of the cluster and decayed usage (share-seconds)."""

    depth: list[tuple[str, str, int]]
    tenants: list[dict[str, Any]]


@dataclass(frozen=True)
class QueueOverview:
    depth: dict[str, int]  # claimable jobs per class
    runners: list[Runner]


class SchedulingService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def scheduler_figures(self) -> SchedulerFigures:
        """For the metrics endpoint (platform-wide, like the rest of `/metrics`)."""
        with self.db.read() as conn:
            return SchedulerFigures(
                shares.queue_depth(conn), shares.usage_by_tenant(conn, utcnow())
            )

    @staticmethod
    def stats_registry() -> CollectorRegistry:
        """Decision latency and time queued, as observed by the claims of this process."""
        return stats.REGISTRY

    def list_classes(self, actor: Actor) -> list[ResourceClass]:
        require(actor.p, Perm.JOBS_READ)
        with self.db.read() as conn:
            return q.list_resource_classes(conn, enabled_only=not actor.p.is_platform_admin)

    def servable_classes(self, actor: Actor) -> set[str]:
        """Names of the enabled classes some registered runner can hold (all before any has)."""
        require(actor.p, Perm.JOBS_READ)
        with self.db.read() as conn:
            return set(pending.servable_classes(conn))

    def put_class(self, actor: Actor, values: dict[str, Any]) -> ResourceClass:
        """Create or replace a class by name (platform admins); disable instead of deleting."""
        require(actor.p, Perm.PLATFORM_MANAGE)
        name = str(values.get("name", ""))
        if not name or len(name) > 63 or not set(name) <= _NAME_CHARS or not name[0].isalnum():
            raise InvalidInput.fields(
                [{"loc": "name", "msg": "use lower-case letters, digits, '.', '-', '_'"}]
            )
        declared = values.get("instance_type")
        if declared is not None and instance_type_problem(str(declared)):
            problem = instance_type_problem(str(declared)) or ""
            raise InvalidInput.fields([{"loc": "instance_type", "msg": problem}])
        now = utcnow()
        with self.db.write() as conn:
            rc = q.upsert_resource_class(conn, {**values, "created_at": now, "updated_at": now})
            record(
                conn,
                actor,
                "resource_class.put",
                "resource_class",
                name,
                details={k: v for k, v in values.items() if k != "name"},
            )
        return rc

    def overview(self, actor: Actor) -> QueueOverview:
        require(actor.p, Perm.PLATFORM_MANAGE)
        with self.db.read() as conn:
            return QueueOverview(q.queue_depth(conn), q.list_runners(conn))

"""Tenant quotas: platform admins set them, a tenant reads its own; the submit gate refuses a
job a hard limit forbids and names the capacity quota that will keep it Pending."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.engine import Connection

from forgeml.db import identity as idq
from forgeml.db import job_queries as jq
from forgeml.db import quotas as q
from forgeml.db import usage as usage_db
from forgeml.db.engine import Database
from forgeml.db.scope import Scope
from forgeml.db.types import utcnow
from forgeml.domain.authz import Perm, require
from forgeml.domain.errors import InvalidInput, NotFound
from forgeml.domain.quotas import (
    Quota,
    budget_refusal,
    capacity_block,
    cost,
    month_of,
    never_fits,
)
from forgeml.services.identity.audit import Actor, record

FIELDS = (
    "max_concurrent_jobs",
    "class_instances",
    "monthly_budget",
    "budget_hard_stop",
    "storage_bytes",
)


class QuotaService:
    def __init__(self, db: Database, currency: str) -> None:
        self.db = db
        self.currency = currency

    def get(self, actor: Actor, tenant_id: str) -> Quota:
        require(actor.p, Perm.TENANT_READ)
        with self.db.read() as conn:
            return self._load(conn, Scope.of(actor.p), tenant_id)

    @staticmethod
    def _load(conn: Connection, scope: Scope, tenant_id: str) -> Quota:
        quota = q.get_quota(conn, scope, tenant_id)
        if quota is None:
            raise NotFound(f"tenant {tenant_id!r} not found")
        return quota

    def update(self, actor: Actor, tenant_id: str, changes: dict[str, Any]) -> Quota:
        """Change some quotas (the others stay); platform admins only. None lifts a limit."""
        scope = Scope.of(actor.p)
        with self.db.read() as conn:
            current = self._load(conn, scope, tenant_id)  # 404 before 403 for foreign ids
            classes = {rc.name for rc in jq.list_resource_classes(conn)}
        require(actor.p, Perm.TENANTS_MANAGE)
        unknown = sorted(set(changes.get("class_instances") or {}) - classes)
        if unknown:
            msg = f"unknown resource class {unknown[0]!r} (available: {', '.join(sorted(classes))})"
            raise InvalidInput.fields([{"loc": "class_instances", "msg": msg}])
        given = {k: v for k, v in changes.items() if k in FIELDS}
        if given.get("class_instances") is None and "class_instances" in given:
            given["class_instances"] = {}
        if given.get("budget_hard_stop") is None and "budget_hard_stop" in given:
            given["budget_hard_stop"] = False
        quota = replace(current, **given)
        with self.db.write() as conn:
            q.set_quota(conn, quota, utcnow())
            record(
                conn, actor, "tenant.quota_update", "tenant", tenant_id, tenant_id=tenant_id,
                details={"fields": sorted(given)},
            )  # fmt: skip
            return self._load(conn, scope, tenant_id)

    def month_used(self, conn: Connection, tenant_id: str) -> float:
        return usage_db.month_total(conn, tenant_id, month_of(utcnow()))

    def admit(self, conn: Connection, values: dict[str, Any]) -> str | None:
        """The submit gate, in the inserting transaction: raise QuotaExceeded for a hard limit;
        return the capacity quota that will keep the job Pending (None: none does)."""
        tenant_id, cls = values["tenant_id"], values["resource_class"]
        count = values["instance_count"]
        quota = q.get_quota(conn, Scope.everything(), tenant_id)
        if quota is None:
            return None
        refused = never_fits(quota, cls, count)
        if refused is None and quota.monthly_budget is not None:
            rc = jq.get_resource_class(conn, cls)
            price = rc.price_per_hour if rc is not None else 0.0
            worst = cost(values["max_runtime_s"] * count, price)
            refused = budget_refusal(quota, self.month_used(conn, tenant_id), worst, self.currency)
        if refused is not None:
            raise refused
        jobs, instances = q.running_of_tenant(conn, tenant_id, cls)
        return capacity_block(quota, jobs, instances, cls, count)


def tenant_exists(conn: Connection, scope: Scope, tenant_id: str) -> None:
    """404 unless the scope sees the tenant (usage of a foreign tenant looks missing)."""
    idq.get_tenant(conn, scope, tenant_id)

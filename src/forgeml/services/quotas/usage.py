"""Usage reports: a tenant sees its own usage, a platform admin every tenant's; sums per
tenant, month, resource class or tag, and the records themselves as CSV."""

from __future__ import annotations

import csv
import io
import re

from forgeml.db import usage as usage_db
from forgeml.db.engine import Database
from forgeml.db.scope import Scope
from forgeml.domain.authz import Perm, require
from forgeml.domain.errors import InvalidInput
from forgeml.domain.quotas import UsageLine, UsageRecord
from forgeml.services.identity.audit import Actor
from forgeml.services.quotas.service import tenant_exists

_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
CSV_LIMIT = 100_000  # records in one export
CSV_COLUMNS = (
    "tenant_id", "job_id", "job_name", "attempt", "resource_class", "instance_count",
    "training_started_at", "ended_at", "seconds", "instance_seconds", "price_per_hour",
    "amount", "currency", "month", "tags",
)  # fmt: skip


def check_month(month: str | None) -> str | None:
    if month is not None and not _MONTH.match(month):
        raise InvalidInput.fields([{"loc": "month", "msg": "a month is YYYY-MM"}])
    return month


class UsageService:
    def __init__(self, db: Database, currency: str) -> None:
        self.db = db
        self.currency = currency

    def report(
        self, actor: Actor, *, tenant_id: str | None, month: str | None, group_by: str
    ) -> list[UsageLine]:
        """`tenant_id` None: every tenant the caller sees (a tenant: its own)."""
        require(actor.p, Perm.TENANT_READ)
        if group_by not in usage_db.GROUPS:
            msg = f"group_by is one of {', '.join(usage_db.GROUPS)}"
            raise InvalidInput.fields([{"loc": "group_by", "msg": msg}])
        scope = Scope.of(actor.p)
        with self.db.read() as conn:
            if tenant_id is not None:
                tenant_exists(conn, scope, tenant_id)
            return usage_db.report(
                conn, scope, tenant_id=tenant_id, month=check_month(month), group_by=group_by
            )

    def records(
        self, actor: Actor, *, tenant_id: str | None, month: str | None
    ) -> list[UsageRecord]:
        require(actor.p, Perm.TENANT_READ)
        scope = Scope.of(actor.p)
        with self.db.read() as conn:
            if tenant_id is not None:
                tenant_exists(conn, scope, tenant_id)
            return usage_db.list_records(
                conn, scope, tenant_id=tenant_id, month=check_month(month), limit=CSV_LIMIT
            )

    def csv(self, actor: Actor, *, tenant_id: str | None, month: str | None) -> str:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for r in self.records(actor, tenant_id=tenant_id, month=month):
            tags = ";".join(f"{k}={v}" for k, v in sorted(r.tags.items()))
            w.writerow(
                [r.tenant_id, r.job_id, _cell(r.job_name), r.attempt, r.resource_class,
                 r.instance_count, r.training_started_at.isoformat(), r.ended_at.isoformat(),
                 r.seconds, r.instance_seconds, r.price_per_hour, f"{r.amount:.6f}",
                 self.currency, r.month, _cell(tags)]
            )  # fmt: skip
        return out.getvalue()


def _cell(text: str) -> str:
    """Tag values are tenant text: a leading = + - @ would run as a formula in a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text

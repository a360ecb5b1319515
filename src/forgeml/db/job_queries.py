"""Queries on training jobs, their transitions, logs and metrics, resource classes and runners.

Every statement on a tenant-owned table goes through `scoped`; writes that a runner makes go
through the fenced functions of `queue/transitions.py` instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from forgeml.db.jobs import (
    job_attempts,
    job_logs,
    job_metrics,
    job_transitions,
    resource_classes,
    runners,
    training_jobs,
)
from forgeml.db.pagination import Page, paginate
from forgeml.db.rows import from_row, one_by_id
from forgeml.db.scope import Scope, scoped
from forgeml.domain.errors import Conflict, NotFound
from forgeml.domain.failures import FailureKind
from forgeml.domain.filters import JobFilter
from forgeml.domain.job_model import (
    LogEntry,
    MetricSample,
    ResourceClass,
    Runner,
    TrainingJob,
    Transition,
)
from forgeml.domain.jobs import AttemptTimes


def _job(r: RowMapping) -> TrainingJob:
    return from_row(TrainingJob, r)


def insert_job(conn: Connection, values: dict[str, Any]) -> TrainingJob:
    clash = sa.select(training_jobs.c.id).where(
        training_jobs.c.tenant_id == values["tenant_id"], training_jobs.c.name == values["name"]
    )
    if conn.execute(clash).first():
        raise Conflict(
            f"a training job named {values['name']!r} already exists", code="already_exists"
        )
    conn.execute(training_jobs.insert().values(**values))
    return get_job(conn, Scope.everything(), values["id"])


def get_job(conn: Connection, scope: Scope, job_id: str) -> TrainingJob:
    missing = f"training job {job_id!r} not found"
    return one_by_id(conn, scope, training_jobs, job_id, _job, missing)


def find_by_idempotency_key(conn: Connection, tenant_id: str, key: str) -> tuple[TrainingJob, str]:
    row = (
        conn.execute(
            sa.select(training_jobs).where(
                training_jobs.c.tenant_id == tenant_id, training_jobs.c.idempotency_key == key
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("no job for this idempotency key")
    return _job(row), str(row["request_hash"])


def list_jobs(
    conn: Connection, scope: Scope, flt: JobFilter, *, cursor: str | None, limit: int
) -> Page[TrainingJob]:
    t = training_jobs
    stmt = scoped(sa.select(t), t, scope)
    if flt.status:
        stmt = stmt.where(sa.or_(t.c.status == flt.status, t.c.secondary_status == flt.status))
    if flt.name_contains:
        pattern = "%" + flt.name_contains.replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_"
        )
        stmt = stmt.where(t.c.name.like(pattern + "%", escape="\\"))
    if flt.created_after:
        stmt = stmt.where(t.c.created_at >= flt.created_after)
    if flt.created_before:
        stmt = stmt.where(t.c.created_at < flt.created_before)
    if not flt.tags:
        return paginate(conn, stmt, t.c.id, _job, cursor=cursor, limit=limit)
    # Tags are JSON; filter in Python over a bounded window so both dialects behave the same.
    want = flt.tags
    found: list[TrainingJob] = []
    page_cursor = cursor
    while len(found) < limit:
        page = paginate(conn, stmt, t.c.id, _job, cursor=page_cursor, limit=200)
        found += [j for j in page.items if all(j.tags.get(k) == v for k, v in want.items())]
        if page.next_cursor is None:
            break
        page_cursor = page.next_cursor
    return _trim(found, limit)


def _trim(items: list[TrainingJob], limit: int) -> Page[TrainingJob]:
    from forgeml.db.pagination import encode_cursor

    nxt = encode_cursor(items[limit - 1].id) if len(items) > limit else None
    return Page(items=items[:limit], next_cursor=nxt)


def transitions(conn: Connection, scope: Scope, job_id: str) -> list[Transition]:
    t = job_transitions
    stmt = scoped(sa.select(t).where(t.c.job_id == job_id), t, scope).order_by(t.c.id)
    return [from_row(Transition, r) for r in conn.execute(stmt).mappings()]


def logs(conn: Connection, scope: Scope, job_id: str, *, after: int, limit: int) -> list[LogEntry]:
    t = job_logs
    stmt = scoped(sa.select(t).where(t.c.job_id == job_id, t.c.id > after), t, scope)
    rows = conn.execute(stmt.order_by(t.c.id).limit(limit)).mappings()
    return [from_row(LogEntry, r) for r in rows]


def append_logs(
    conn: Connection, lines: list[dict[str, Any]], points: list[dict[str, Any]]
) -> None:
    """Append a batch of log lines and the metric points parsed from them."""
    if lines:
        conn.execute(job_logs.insert(), lines)
    if points:
        conn.execute(job_metrics.insert(), points)


def metrics(
    conn: Connection, scope: Scope, job_id: str, *, name: str | None, after: int, limit: int
) -> list[tuple[int, MetricSample]]:
    t = job_metrics
    stmt = scoped(sa.select(t).where(t.c.job_id == job_id, t.c.id > after), t, scope)
    if name:
        stmt = stmt.where(t.c.name == name)
    rows = conn.execute(stmt.order_by(t.c.id).limit(limit)).mappings()
    return [(r["id"], from_row(MetricSample, r)) for r in rows]


def attempt_times(conn: Connection, job_id: str) -> list[AttemptTimes]:
    t = job_attempts
    rows = conn.execute(sa.select(t).where(t.c.job_id == job_id).order_by(t.c.number)).mappings()
    return [from_row(AttemptTimes, r) for r in rows]


def start_attempt_training(conn: Connection, job_id: str, number: int, at: datetime) -> None:
    """Attempt `number`'s program started at `at` (billable time counts from here)."""
    a = job_attempts
    conn.execute(
        a.update().where(a.c.job_id == job_id, a.c.number == number).values(training_started_at=at)
    )


def close_attempt(
    conn: Connection,
    job_id: str,
    number: int,
    outcome: str,
    billable: bool,
    failure: FailureKind | None,
    now: datetime,
) -> None:
    """End attempt `number` of the job (if still open) with its outcome and failure kind."""
    a = job_attempts
    conn.execute(
        a.update()
        .where(a.c.job_id == job_id, a.c.number == number, a.c.ended_at.is_(None))
        .values(
            ended_at=now,
            outcome=outcome,
            billable=billable,
            failure_kind=failure.value if failure else None,
        )
    )


def set_billing(conn: Connection, job_id: str, billable: int, training: int) -> TrainingJob:
    t = training_jobs
    conn.execute(
        t.update()
        .where(t.c.id == job_id)
        .values(billable_seconds=billable, training_seconds=training)
    )
    return get_job(conn, Scope.everything(), job_id)


def count_active_with_versions(conn: Connection, version_ids: list[str]) -> int:
    """Queued or running jobs reading one of these dataset versions (they may not be deleted)."""
    from forgeml.domain.jobs import QUEUED_OR_RUNNING

    wanted = set(version_ids)
    stmt = sa.select(training_jobs.c.inputs).where(
        training_jobs.c.secondary_status.in_([s.value for s in QUEUED_OR_RUNNING])
    )
    return sum(
        1
        for (inputs,) in conn.execute(stmt)
        if any(ch.get("version_id") in wanted for ch in (inputs or {}).values())
    )


# --- resource classes and runners (platform-owned, not tenant rows) --------------------------


def _rc(r: RowMapping) -> ResourceClass:
    return from_row(ResourceClass, r)


def list_resource_classes(conn: Connection, *, enabled_only: bool = False) -> list[ResourceClass]:
    stmt = sa.select(resource_classes).order_by(resource_classes.c.name)
    if enabled_only:
        stmt = stmt.where(resource_classes.c.enabled.is_(True))
    return [_rc(r) for r in conn.execute(stmt).mappings()]


def get_resource_class(conn: Connection, name: str) -> ResourceClass | None:
    row = (
        conn.execute(sa.select(resource_classes).where(resource_classes.c.name == name))
        .mappings()
        .first()
    )
    return None if row is None else _rc(row)


def upsert_resource_class(conn: Connection, values: dict[str, Any]) -> ResourceClass:
    exists = get_resource_class(conn, values["name"]) is not None
    if exists:
        values = {k: v for k, v in values.items() if k != "created_at"}
        conn.execute(
            resource_classes.update()
            .where(resource_classes.c.name == values["name"])
            .values(**values)
        )
    else:
        conn.execute(resource_classes.insert().values(**values))
    rc = get_resource_class(conn, values["name"])
    assert rc is not None
    return rc


def _runner(r: RowMapping) -> Runner:
    return from_row(Runner, r)


def list_runners(conn: Connection) -> list[Runner]:
    return [
        _runner(r) for r in conn.execute(sa.select(runners).order_by(runners.c.name)).mappings()
    ]


def queue_depth(conn: Connection) -> dict[str, int]:
    """Claimable jobs per resource class."""
    t = training_jobs
    stmt = (
        sa.select(t.c.resource_class, sa.func.count())
        .where(t.c.secondary_status.in_(["Pending", "Interrupted"]))
        .group_by(t.c.resource_class)
    )
    return {str(name): int(n) for name, n in conn.execute(stmt)}


def next_not_before(conn: Connection, now: datetime) -> datetime | None:
    """When the next queued job's retry back-off ends: no NOTIFY marks that moment, so an idle
    runner wakes for it (`workers/runner.py`)."""
    t = training_jobs
    stmt = sa.select(sa.func.min(t.c.not_before)).where(
        t.c.secondary_status.in_(["Pending", "Interrupted"]), t.c.not_before > now
    )
    at: datetime | None = conn.execute(stmt).scalar_one_or_none()
    return at

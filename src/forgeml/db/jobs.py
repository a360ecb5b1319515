"""Tables of training jobs (attempts, transitions, logs, metrics), resource classes and runners.

Queries on the job row live in `db/job_queries.py`; claims and fenced writes in `queue/`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from forgeml.db import columns as col
from forgeml.db.tables import entity, metadata

resource_classes = sa.Table(
    "resource_classes",
    metadata,
    col.string("name", 63, primary_key=True),
    col.string("description", 500),
    col.typed("cpus", sa.Integer),
    col.typed("memory_bytes", sa.BigInteger),
    col.typed("gpus", sa.Integer),
    col.typed("max_volume_gb", sa.Integer),
    col.typed("price_per_hour", sa.Float),
    col.typed("enabled", sa.Boolean),
    *col.stamps(),
    col.string("instance_type", 63, nullable=True),
)

runners = entity(
    "runners",
    col.string("name", 200, unique=True),
    col.string("incarnation", 64),
    col.string("executor", 32),
    col.typed("cpus", sa.Integer),
    col.typed("memory_bytes", sa.BigInteger),
    col.typed("gpu_indices", sa.JSON),
    col.timestamp("started_at"),
    col.timestamp("heartbeat_at"),
)

# The claimable statuses (domain.jobs.CLAIMABLE), as `db/shares.queued_status` writes them.
QUEUED = "secondary_status IN ('Interrupted', 'Pending')"

training_jobs = entity(
    "training_jobs",
    col.reference("tenant_id", "tenants", index=True),
    col.string("name", 63),
    col.string("status", 16),
    col.string("secondary_status", 32, index=True),
    col.string("status_message", 2000, nullable=True),
    col.string("algorithm_id", 64, nullable=True),
    col.string("algorithm_version_id", 64),
    col.string("algorithm_name", 63),
    col.string("algorithm_version", 64),
    col.string("algorithm_digest", 100),
    col.typed("hyperparameters", sa.JSON),
    col.typed("inputs", sa.JSON),
    col.string("resource_class", 63, index=True),
    col.typed("instance_count", sa.Integer),
    col.typed("volume_gb", sa.Integer),
    col.typed("max_runtime_s", sa.Integer),
    col.typed("max_wait_s", sa.Integer, nullable=True),
    col.typed("max_attempts", sa.Integer),
    col.typed("checkpointing", sa.Boolean),
    # {"location_id", "location_name", "local_path"}: the tenant checkpoint location it used.
    col.typed("checkpoint_config", sa.JSON, nullable=True),
    col.typed("preemptible", sa.Boolean),
    col.typed("network", sa.Boolean),
    col.typed("environment", sa.JSON),
    col.typed("tags", sa.JSON),
    col.typed("attempt", sa.Integer),
    col.string("lease_token", 64, nullable=True),
    col.key("runner_id", nullable=True, index=True),
    col.timestamp("lease_expires_at", nullable=True),
    col.typed("gpu_indices", sa.JSON),
    # An interrupted job is not claimed before this (back-off between platform retries).
    col.timestamp("not_before", nullable=True),
    col.string("pending_reason", 500, nullable=True),
    col.string("failure_reason", 2000, nullable=True),
    col.typed("final_metrics", sa.JSON),
    col.typed("artifacts", sa.JSON),
    col.typed("billable_seconds", sa.Integer, nullable=True),
    col.typed("training_seconds", sa.Integer, nullable=True),
    col.string("created_by", 64, nullable=True),
    col.string("idempotency_key", 200, nullable=True),
    col.string("request_hash", 64, nullable=True),
    *col.stamps(),
    col.timestamp("started_at", nullable=True),
    col.timestamp("training_started_at", nullable=True),
    col.timestamp("ended_at", nullable=True),
    sa.UniqueConstraint("tenant_id", "name"),
    sa.UniqueConstraint("tenant_id", "idempotency_key"),
    # A tenant's running jobs (its fair-share rate) without reading its whole history.
    sa.Index("ix_training_jobs_tenant_id_secondary_status", "tenant_id", "secondary_status"),
    # A tenant's queue in claim order: the head job is one index probe (queue/claims.py).
    sa.Index(
        "ix_training_jobs_queued",
        "tenant_id",
        "created_at",
        "id",
        postgresql_where=sa.text(QUEUED),
        sqlite_where=sa.text(QUEUED),
    ),
)


def _attempt_row(*, job_index: bool) -> tuple[sa.Column[Any], ...]:
    """What every row a job's attempt leaves (transitions, logs, metrics) starts with; logs and
    metrics index `job_id` together with their order column instead of alone."""
    job_id = col.reference("job_id", "training_jobs", index=job_index)
    return job_id, col.key("tenant_id"), col.typed("attempt", sa.Integer)


def _big_id() -> sa.Column[int]:
    """Logs and metrics outgrow 32 bits; SQLite autoincrements only an INTEGER primary key."""
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)


job_attempts = entity(
    "training_job_attempts",
    col.reference("job_id", "training_jobs", index=True),
    col.key("tenant_id"),
    col.typed("number", sa.Integer),
    col.key("runner_id", nullable=True),
    col.string("lease_token", 64),
    col.timestamp("starting_at"),
    col.timestamp("training_started_at", nullable=True),
    col.timestamp("ended_at", nullable=True),
    col.string("outcome", 32, nullable=True),
    col.typed("billable", sa.Boolean),
    col.string("message", 2000, nullable=True),
    col.string("failure_kind", 32, nullable=True),  # domain.failures.FailureKind
    sa.UniqueConstraint("job_id", "number"),
)

job_transitions = sa.Table(
    "training_job_transitions",
    metadata,
    col.serial(),
    *_attempt_row(job_index=True),
    col.string("status", 16),
    col.string("secondary_status", 32),
    col.timestamp("start_time"),
    col.timestamp("end_time", nullable=True),
    col.string("message", 2000),
)

job_logs = sa.Table(
    "training_job_logs",
    metadata,
    _big_id(),
    *_attempt_row(job_index=False),
    col.timestamp("at"),
    col.string("host", 16),
    col.string("stream", 8),
    col.typed("text", sa.Text),
    sa.Index("ix_training_job_logs_job_id_id", "job_id", "id"),
)

job_metrics = sa.Table(
    "training_job_metrics",
    metadata,
    _big_id(),
    *_attempt_row(job_index=False),
    col.string("host", 16),
    col.string("name", 255),
    col.timestamp("at"),
    col.typed("value", sa.Float),
    sa.Index("ix_training_job_metrics_job_id_name", "job_id", "name"),
)

"""Tables of training jobs (attempts, transitions, logs, metrics), resource classes and runners.

Queries on the job row live in `db/job_queries.py`; claims and fenced writes in `queue/`.
"""

from __future__ import annotations

import sqlalchemy as sa

from forgeml.db.tables import ID, metadata
from forgeml.db.types import UTCDateTime

resource_classes = sa.Table(
    "resource_classes",
    metadata,
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("description", sa.String(500), nullable=False),
    sa.Column("cpus", sa.Integer, nullable=False),
    sa.Column("memory_bytes", sa.BigInteger, nullable=False),
    sa.Column("gpus", sa.Integer, nullable=False),
    sa.Column("max_volume_gb", sa.Integer, nullable=False),
    sa.Column("price_per_hour", sa.Float, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("instance_type", sa.String(63), nullable=True),
)

runners = sa.Table(
    "runners",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("incarnation", sa.String(64), nullable=False),
    sa.Column("executor", sa.String(32), nullable=False),
    sa.Column("cpus", sa.Integer, nullable=False),
    sa.Column("memory_bytes", sa.BigInteger, nullable=False),
    sa.Column("gpu_indices", sa.JSON, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
)

training_jobs = sa.Table(
    "training_jobs",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("tenant_id", ID, sa.ForeignKey("tenants.id"), nullable=False, index=True),
    sa.Column("name", sa.String(63), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("secondary_status", sa.String(32), nullable=False, index=True),
    sa.Column("status_message", sa.String(2000), nullable=True),
    sa.Column("algorithm_id", sa.String(64), nullable=True),
    sa.Column("algorithm_version_id", sa.String(64), nullable=False),
    sa.Column("algorithm_name", sa.String(63), nullable=False),
    sa.Column("algorithm_version", sa.String(64), nullable=False),
    sa.Column("algorithm_digest", sa.String(100), nullable=False),
    sa.Column("hyperparameters", sa.JSON, nullable=False),
    sa.Column("inputs", sa.JSON, nullable=False),
    sa.Column("resource_class", sa.String(63), nullable=False, index=True),
    sa.Column("instance_count", sa.Integer, nullable=False),
    sa.Column("volume_gb", sa.Integer, nullable=False),
    sa.Column("max_runtime_s", sa.Integer, nullable=False),
    sa.Column("max_wait_s", sa.Integer, nullable=True),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("checkpointing", sa.Boolean, nullable=False),
    # {"location_id", "location_name", "local_path"}: the tenant checkpoint location it used.
    sa.Column("checkpoint_config", sa.JSON, nullable=True),
    sa.Column("preemptible", sa.Boolean, nullable=False),
    sa.Column("network", sa.Boolean, nullable=False),
    sa.Column("environment", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("lease_token", sa.String(64), nullable=True),
    sa.Column("runner_id", ID, nullable=True, index=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    sa.Column("gpu_indices", sa.JSON, nullable=False),
    # An interrupted job is not claimed before this (back-off between platform retries).
    sa.Column("not_before", UTCDateTime, nullable=True),
    sa.Column("pending_reason", sa.String(500), nullable=True),
    sa.Column("failure_reason", sa.String(2000), nullable=True),
    sa.Column("final_metrics", sa.JSON, nullable=False),
    sa.Column("artifacts", sa.JSON, nullable=False),
    sa.Column("billable_seconds", sa.Integer, nullable=True),
    sa.Column("training_seconds", sa.Integer, nullable=True),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("idempotency_key", sa.String(200), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("training_started_at", UTCDateTime, nullable=True),
    sa.Column("ended_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("tenant_id", "name"),
    sa.UniqueConstraint("tenant_id", "idempotency_key"),
)

job_attempts = sa.Table(
    "training_job_attempts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("job_id", ID, sa.ForeignKey("training_jobs.id"), nullable=False, index=True),
    sa.Column("tenant_id", ID, nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("runner_id", ID, nullable=True),
    sa.Column("lease_token", sa.String(64), nullable=False),
    sa.Column("starting_at", UTCDateTime, nullable=False),
    sa.Column("training_started_at", UTCDateTime, nullable=True),
    sa.Column("ended_at", UTCDateTime, nullable=True),
    sa.Column("outcome", sa.String(32), nullable=True),
    sa.Column("billable", sa.Boolean, nullable=False),
    sa.Column("message", sa.String(2000), nullable=True),
    sa.Column("failure_kind", sa.String(32), nullable=True),  # domain.failures.FailureKind
    sa.UniqueConstraint("job_id", "number"),
)

job_transitions = sa.Table(
    "training_job_transitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", ID, sa.ForeignKey("training_jobs.id"), nullable=False, index=True),
    sa.Column("tenant_id", ID, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("secondary_status", sa.String(32), nullable=False),
    sa.Column("start_time", UTCDateTime, nullable=False),
    sa.Column("end_time", UTCDateTime, nullable=True),
    sa.Column("message", sa.String(2000), nullable=False),
)

job_logs = sa.Table(
    "training_job_logs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("job_id", ID, sa.ForeignKey("training_jobs.id"), nullable=False),
    sa.Column("tenant_id", ID, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("host", sa.String(16), nullable=False),
    sa.Column("stream", sa.String(8), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Index("ix_training_job_logs_job_id_id", "job_id", "id"),
)

job_metrics = sa.Table(
    "training_job_metrics",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("job_id", ID, sa.ForeignKey("training_jobs.id"), nullable=False),
    sa.Column("tenant_id", ID, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("host", sa.String(16), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Index("ix_training_job_metrics_job_id_name", "job_id", "name"),
)

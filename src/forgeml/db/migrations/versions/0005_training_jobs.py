"""training jobs, attempts, transitions, logs, metrics; resource classes (seeded); runners

Revision 0005 (revises 0002), created 2026-11-24 21:24:56.054477.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from forgeml.db.migrations import helpers as h
from forgeml.db.types import UTCDateTime

revision = "0005"
down_revision = "0002"

# Non-unique indexes per table, shared by upgrade and downgrade (which drops them in reverse).
INDEXES: dict[str, list[str | tuple[str, ...]]] = {
    "resource_classes": [],
    "runners": [],
    "training_jobs": ["resource_class", "runner_id", "secondary_status", "tenant_id"],
    "training_job_attempts": ["job_id"],
    "training_job_logs": [("job_id", "id")],
    "training_job_metrics": [("job_id", "name")],
    "training_job_transitions": ["job_id"],
}


def upgrade() -> None:
    h.create_table(
        "resource_classes",
        h.string("name", 63),
        h.string("description", 500),
        h.column("cpus", sa.Integer()),
        h.column("memory_bytes", sa.BigInteger()),
        h.column("gpus", sa.Integer()),
        h.column("max_volume_gb", sa.Integer()),
        h.column("price_per_hour", sa.Float()),
        h.column("enabled", sa.Boolean()),
        *h.stamps(),
        primary_key="name",
    )
    h.create_entity(
        "runners",
        h.string("name", 200),
        h.string("incarnation", 64),
        h.string("executor", 32),
        h.column("cpus", sa.Integer()),
        h.column("memory_bytes", sa.BigInteger()),
        h.column("gpu_indices", sa.JSON()),
        h.ts("started_at"),
        h.ts("heartbeat_at"),
        unique=["name"],
    )
    h.create_entity(
        "training_jobs",
        h.key("tenant_id"),
        h.string("name", 63),
        h.string("status", 16),
        h.string("secondary_status", 32),
        h.string("status_message", 2000, nullable=True),
        h.string("algorithm_id", 64, nullable=True),
        h.string("algorithm_version_id", 64),
        h.string("algorithm_name", 63),
        h.string("algorithm_version", 64),
        h.string("algorithm_digest", 100),
        h.column("hyperparameters", sa.JSON()),
        h.column("inputs", sa.JSON()),
        h.string("resource_class", 63),
        h.column("instance_count", sa.Integer()),
        h.column("volume_gb", sa.Integer()),
        h.column("max_runtime_s", sa.Integer()),
        h.column("max_wait_s", sa.Integer(), nullable=True),
        h.column("max_attempts", sa.Integer()),
        h.column("checkpointing", sa.Boolean()),
        h.column("preemptible", sa.Boolean()),
        h.column("network", sa.Boolean()),
        h.column("environment", sa.JSON()),
        h.column("tags", sa.JSON()),
        h.column("attempt", sa.Integer()),
        h.string("lease_token", 64, nullable=True),
        h.key("runner_id", nullable=True),
        h.ts("lease_expires_at", nullable=True),
        h.column("gpu_indices", sa.JSON()),
        h.string("pending_reason", 500, nullable=True),
        h.string("failure_reason", 2000, nullable=True),
        h.column("final_metrics", sa.JSON()),
        h.column("artifacts", sa.JSON()),
        h.column("billable_seconds", sa.Integer(), nullable=True),
        h.column("training_seconds", sa.Integer(), nullable=True),
        h.string("created_by", 64, nullable=True),
        h.string("idempotency_key", 200, nullable=True),
        h.string("request_hash", 64, nullable=True),
        *h.stamps(),
        h.ts("started_at", nullable=True),
        h.ts("training_started_at", nullable=True),
        h.ts("ended_at", nullable=True),
        h.fk("training_jobs", "tenant_id", "tenants"),
        unique=[("tenant_id", "idempotency_key"), ("tenant_id", "name")],
        indexes=INDEXES["training_jobs"],
    )
    h.create_entity(
        "training_job_attempts",
        h.key("job_id"),
        h.key("tenant_id"),
        h.column("number", sa.Integer()),
        h.key("runner_id", nullable=True),
        h.string("lease_token", 64),
        h.ts("starting_at"),
        h.ts("training_started_at", nullable=True),
        h.ts("ended_at", nullable=True),
        h.string("outcome", 32, nullable=True),
        h.column("billable", sa.Boolean()),
        h.string("message", 2000, nullable=True),
        h.fk("training_job_attempts", "job_id", "training_jobs"),
        unique=[("job_id", "number")],
        indexes=INDEXES["training_job_attempts"],
    )
    h.create_table(
        "training_job_logs",
        _big_id(),
        *_attempt_row(),
        h.ts("at"),
        h.string("host", 16),
        h.string("stream", 8),
        h.column("text", sa.Text()),
        h.fk("training_job_logs", "job_id", "training_jobs"),
        indexes=INDEXES["training_job_logs"],
    )
    h.create_table(
        "training_job_metrics",
        _big_id(),
        *_attempt_row(),
        h.string("host", 16),
        h.string("name", 255),
        h.ts("at"),
        h.column("value", sa.Float()),
        h.fk("training_job_metrics", "job_id", "training_jobs"),
        indexes=INDEXES["training_job_metrics"],
    )
    h.create_table(
        "training_job_transitions",
        h.serial(),
        *_attempt_row(),
        h.string("status", 16),
        h.string("secondary_status", 32),
        h.ts("start_time"),
        h.ts("end_time", nullable=True),
        h.string("message", 2000),
        h.fk("training_job_transitions", "job_id", "training_jobs"),
        indexes=INDEXES["training_job_transitions"],
    )
    _seed_resource_classes()


def _attempt_row() -> tuple[sa.Column[Any], ...]:
    """What every row a job's attempt leaves (transitions, logs, metrics) starts with."""
    return h.key("job_id"), h.key("tenant_id"), h.column("attempt", sa.Integer())


def _big_id() -> sa.Column[int]:
    """Logs and metrics outgrow 32 bits; SQLite autoincrements only an INTEGER primary key."""
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)


GIB = 1024**3
DEFAULT_CLASSES = [
    ("cpu.small", "2 CPUs, 4 GiB memory", 2, 4 * GIB, 0, 50, 0.10),
    ("cpu.large", "8 CPUs, 32 GiB memory", 8, 32 * GIB, 0, 200, 0.45),
    ("gpu.1", "8 CPUs, 60 GiB memory, 1 GPU", 8, 60 * GIB, 1, 500, 1.50),
]


def _seed_resource_classes() -> None:
    from datetime import UTC, datetime

    table = sa.table(
        "resource_classes",
        *(sa.column(c) for c in ("name", "description", "cpus", "memory_bytes", "gpus")),
        *(sa.column(c) for c in ("max_volume_gb", "price_per_hour", "enabled")),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        table,
        [
            {
                "name": n,
                "description": d,
                "cpus": c,
                "memory_bytes": m,
                "gpus": g,
                "max_volume_gb": v,
                "price_per_hour": p,
                "enabled": True,
                "created_at": now,
                "updated_at": now,
            }
            for n, d, c, m, g, v, p in DEFAULT_CLASSES
        ],
    )


def downgrade() -> None:
    for table in reversed(INDEXES):
        h.drop_table(table, INDEXES[table])

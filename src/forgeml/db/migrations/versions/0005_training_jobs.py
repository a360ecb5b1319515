"""training jobs, attempts, transitions, logs, metrics; resource classes (seeded); runners

Revision 0005 (revises 0002), created 2026-11-24 21:24:56.054477.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from forgeml.db.migrations.helpers import create_table, drop_table, fk, key, pk, ts, unique
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
    create_table(
        "resource_classes",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("cpus", sa.Integer(), nullable=False),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("max_volume_gb", sa.Integer(), nullable=False),
        sa.Column("price_per_hour", sa.Float(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        ts("created_at"),
        ts("updated_at"),
        pk("resource_classes", "name"),
    )
    create_table(
        "runners",
        key(),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("incarnation", sa.String(length=64), nullable=False),
        sa.Column("executor", sa.String(length=32), nullable=False),
        sa.Column("cpus", sa.Integer(), nullable=False),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("gpu_indices", sa.JSON(), nullable=False),
        ts("started_at"),
        ts("heartbeat_at"),
        pk("runners"),
        unique("runners", "name"),
    )
    create_table(
        "training_jobs",
        key(),
        key("tenant_id"),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("secondary_status", sa.String(length=32), nullable=False),
        sa.Column("status_message", sa.String(length=2000), nullable=True),
        sa.Column("algorithm_id", sa.String(length=64), nullable=True),
        sa.Column("algorithm_version_id", sa.String(length=64), nullable=False),
        sa.Column("algorithm_name", sa.String(length=63), nullable=False),
        sa.Column("algorithm_version", sa.String(length=64), nullable=False),
        sa.Column("algorithm_digest", sa.String(length=100), nullable=False),
        sa.Column("hyperparameters", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("resource_class", sa.String(length=63), nullable=False),
        sa.Column("instance_count", sa.Integer(), nullable=False),
        sa.Column("volume_gb", sa.Integer(), nullable=False),
        sa.Column("max_runtime_s", sa.Integer(), nullable=False),
        sa.Column("max_wait_s", sa.Integer(), nullable=True),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("checkpointing", sa.Boolean(), nullable=False),
        sa.Column("preemptible", sa.Boolean(), nullable=False),
        sa.Column("network", sa.Boolean(), nullable=False),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("lease_token", sa.String(length=64), nullable=True),
        key("runner_id", nullable=True),
        ts("lease_expires_at", nullable=True),
        sa.Column("gpu_indices", sa.JSON(), nullable=False),
        sa.Column("pending_reason", sa.String(length=500), nullable=True),
        sa.Column("failure_reason", sa.String(length=2000), nullable=True),
        sa.Column("final_metrics", sa.JSON(), nullable=False),
        sa.Column("artifacts", sa.JSON(), nullable=False),
        sa.Column("billable_seconds", sa.Integer(), nullable=True),
        sa.Column("training_seconds", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        ts("created_at"),
        ts("updated_at"),
        ts("started_at", nullable=True),
        ts("training_started_at", nullable=True),
        ts("ended_at", nullable=True),
        fk("training_jobs", "tenant_id", "tenants"),
        pk("training_jobs"),
        unique("training_jobs", "tenant_id", "idempotency_key"),
        unique("training_jobs", "tenant_id", "name"),
        indexes=INDEXES["training_jobs"],
    )
    create_table(
        "training_job_attempts",
        key(),
        key("job_id"),
        key("tenant_id"),
        sa.Column("number", sa.Integer(), nullable=False),
        key("runner_id", nullable=True),
        sa.Column("lease_token", sa.String(length=64), nullable=False),
        ts("starting_at"),
        ts("training_started_at", nullable=True),
        ts("ended_at", nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("message", sa.String(length=2000), nullable=True),
        fk("training_job_attempts", "job_id", "training_jobs"),
        pk("training_job_attempts"),
        unique("training_job_attempts", "job_id", "number"),
        indexes=INDEXES["training_job_attempts"],
    )
    create_table(
        "training_job_logs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        key("job_id"),
        key("tenant_id"),
        sa.Column("attempt", sa.Integer(), nullable=False),
        ts("at"),
        sa.Column("host", sa.String(length=16), nullable=False),
        sa.Column("stream", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        fk("training_job_logs", "job_id", "training_jobs"),
        pk("training_job_logs"),
        indexes=INDEXES["training_job_logs"],
    )
    create_table(
        "training_job_metrics",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        key("job_id"),
        key("tenant_id"),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        ts("at"),
        sa.Column("value", sa.Float(), nullable=False),
        fk("training_job_metrics", "job_id", "training_jobs"),
        pk("training_job_metrics"),
        indexes=INDEXES["training_job_metrics"],
    )
    create_table(
        "training_job_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        key("job_id"),
        key("tenant_id"),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("secondary_status", sa.String(length=32), nullable=False),
        ts("start_time"),
        ts("end_time", nullable=True),
        sa.Column("message", sa.String(length=2000), nullable=False),
        fk("training_job_transitions", "job_id", "training_jobs"),
        pk("training_job_transitions"),
        indexes=INDEXES["training_job_transitions"],
    )
    _seed_resource_classes()


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
        drop_table(table, INDEXES[table])

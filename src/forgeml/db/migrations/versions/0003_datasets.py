"""datasets

Revision 0003 (revises 0002), created 2026-11-24 21:27:33.199452.
"""

from __future__ import annotations

import sqlalchemy as sa

from forgeml.db.migrations.helpers import create_table, drop_table, fk, key, pk, ts, unique

revision = "0003"
down_revision = "0002"

# Non-unique indexes per table, shared by upgrade and downgrade (which drops them in reverse).
INDEXES: dict[str, list[str | tuple[str, ...]]] = {
    "datasets": ["tenant_id"],
    "dataset_grants": ["dataset_id", "tenant_id"],
    "dataset_versions": [("status", "expires_at"), "tenant_id"],
    "dataset_files": ["tenant_id"],
}


def upgrade() -> None:
    create_table(
        "datasets",
        key(),
        key("tenant_id", nullable=True),
        key("owner"),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("schema_notes", sa.Text(), nullable=False),
        ts("created_at"),
        ts("updated_at"),
        fk("datasets", "tenant_id", "tenants"),
        pk("datasets"),
        unique("datasets", "owner", "name"),
        indexes=INDEXES["datasets"],
    )
    create_table(
        "dataset_grants",
        key(),
        key("dataset_id"),
        key("tenant_id"),
        sa.Column("algorithms", sa.JSON(), nullable=True),
        ts("expires_at", nullable=True),
        ts("created_at"),
        ts("revoked_at", nullable=True),
        fk("dataset_grants", "dataset_id", "datasets"),
        fk("dataset_grants", "tenant_id", "tenants"),
        pk("dataset_grants"),
        indexes=INDEXES["dataset_grants"],
    )
    create_table(
        "dataset_versions",
        key(),
        key("dataset_id"),
        key("tenant_id", nullable=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=True),
        ts("created_at"),
        ts("committed_at", nullable=True),
        ts("expires_at", nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        fk("dataset_versions", "dataset_id", "datasets"),
        pk("dataset_versions"),
        unique("dataset_versions", "dataset_id", "number"),
        indexes=INDEXES["dataset_versions"],
    )
    create_table(
        "dataset_files",
        key(),
        key("version_id"),
        key("tenant_id", nullable=True),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("path_key", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("upload_id", sa.String(length=1024), nullable=True),
        sa.Column("part_size", sa.BigInteger(), nullable=True),
        fk("dataset_files", "version_id", "dataset_versions"),
        pk("dataset_files"),
        unique("dataset_files", "version_id", "path_key"),
        indexes=INDEXES["dataset_files"],
    )


def downgrade() -> None:
    for table in reversed(INDEXES):
        drop_table(table, INDEXES[table])

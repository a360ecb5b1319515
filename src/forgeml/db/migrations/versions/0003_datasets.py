"""datasets

Revision 0003 (revises 0002), created 2026-11-24 21:27:33.199452.
"""

from __future__ import annotations

import sqlalchemy as sa

from forgeml.db.migrations import helpers as h

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
    h.create_entity(
        "datasets",
        h.key("tenant_id", nullable=True),
        h.key("owner"),
        h.string("kind", 16),
        h.string("name", 100),
        h.column("description", sa.Text()),
        h.column("schema_notes", sa.Text()),
        *h.stamps(),
        h.fk("datasets", "tenant_id", "tenants"),
        unique=[("owner", "name")],
        indexes=INDEXES["datasets"],
    )
    h.create_entity(
        "dataset_grants",
        h.key("dataset_id"),
        h.key("tenant_id"),
        h.column("algorithms", sa.JSON(), nullable=True),
        h.ts("expires_at", nullable=True),
        h.ts("created_at"),
        h.ts("revoked_at", nullable=True),
        h.fk("dataset_grants", "dataset_id", "datasets"),
        h.fk("dataset_grants", "tenant_id", "tenants"),
        indexes=INDEXES["dataset_grants"],
    )
    h.create_entity(
        "dataset_versions",
        h.key("dataset_id"),
        h.key("tenant_id", nullable=True),
        h.column("number", sa.Integer()),
        h.string("status", 16),
        h.column("file_count", sa.Integer()),
        h.column("size_bytes", sa.BigInteger()),
        h.string("digest", 64, nullable=True),
        h.ts("created_at"),
        h.ts("committed_at", nullable=True),
        h.ts("expires_at", nullable=True),
        h.string("created_by", 64, nullable=True),
        h.fk("dataset_versions", "dataset_id", "datasets"),
        unique=[("dataset_id", "number")],
        indexes=INDEXES["dataset_versions"],
    )
    h.create_entity(
        "dataset_files",
        h.key("version_id"),
        h.key("tenant_id", nullable=True),
        h.string("path", 1024),
        h.string("path_key", 1024),
        h.column("size", sa.BigInteger(), nullable=True),
        h.string("sha256", 64, nullable=True),
        h.string("content_type", 255),
        h.string("object_key", 1024),
        h.string("state", 16),
        h.string("upload_id", 1024, nullable=True),
        h.column("part_size", sa.BigInteger(), nullable=True),
        h.fk("dataset_files", "version_id", "dataset_versions"),
        unique=[("version_id", "path_key")],
        indexes=INDEXES["dataset_files"],
    )


def downgrade() -> None:
    for table in reversed(INDEXES):
        h.drop_table(table, INDEXES[table])

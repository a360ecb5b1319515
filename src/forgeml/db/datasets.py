"""Tables and queries of the data lake: datasets, their versions and files
(platform grants are in `db/grants.py`).

Platform datasets have `tenant_id` NULL, so `scoped(...)` hides them from every tenant by
construction; tenants see them only through `grants` (see `services/datasets/service.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from forgeml.db import columns as col
from forgeml.db.grants import dataset_grants
from forgeml.db.pagination import Page, paginate
from forgeml.db.rows import from_row, one, one_by_id
from forgeml.db.scope import Scope, scoped
from forgeml.db.tables import entity
from forgeml.domain.datasets import (
    Dataset,
    DatasetFile,
    DatasetKind,
    DatasetVersion,
    FileState,
    VersionStatus,
)
from forgeml.domain.errors import Conflict, NotFound

datasets = entity(
    "datasets",
    col.tenant_column(nullable=True),
    # tenant id or "platform": a real unique key for names (NULLs never collide in SQL).
    col.string("owner", 32),
    col.string("kind", 16),
    col.string("name", 100),
    col.typed("description", sa.Text),
    col.typed("schema_notes", sa.Text),
    *col.stamps(),
    sa.UniqueConstraint("owner", "name"),
)

dataset_versions = entity(
    "dataset_versions",
    col.reference("dataset_id", "datasets"),
    col.tenant_column(nullable=True, references=False),
    col.typed("number", sa.Integer),
    col.string("status", 16),
    col.typed("file_count", sa.Integer),
    col.typed("size_bytes", sa.BigInteger),
    col.string("digest", 64, nullable=True),
    col.timestamp("created_at"),
    col.timestamp("committed_at", nullable=True),
    col.timestamp("expires_at", nullable=True),
    col.string("created_by", 64, nullable=True),
    sa.UniqueConstraint("dataset_id", "number"),
    sa.Index("ix_dataset_versions_status_expires_at", "status", "expires_at"),
)

dataset_files = entity(
    "dataset_files",
    col.reference("version_id", "dataset_versions"),
    col.tenant_column(nullable=True, references=False),
    col.string("path", 1024),
    col.string("path_key", 1024),  # domain.datasets.fold(path)
    col.typed("size", sa.BigInteger, nullable=True),
    col.string("sha256", 64, nullable=True),
    col.string("content_type", 255),
    col.string("object_key", 1024),
    col.string("state", 16),
    col.string("upload_id", 1024, nullable=True),
    col.typed("part_size", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("version_id", "path_key"),
)


def _dataset(r: RowMapping) -> Dataset:
    return from_row(Dataset, r, kind=DatasetKind)


def _version(r: RowMapping) -> DatasetVersion:
    return from_row(DatasetVersion, r, status=VersionStatus)


def _file(r: RowMapping) -> DatasetFile:
    return from_row(DatasetFile, r, state=FileState)


# --- datasets -------------------------------------------------------------------------------


def insert_dataset(conn: Connection, values: dict[str, Any]) -> Dataset:
    owner = values["tenant_id"] or "platform"
    clash = sa.select(datasets.c.id).where(
        datasets.c.owner == owner, datasets.c.name == values["name"]
    )
    if conn.execute(clash).first():
        raise Conflict(f"a dataset named {values['name']!r} already exists", code="already_exists")
    conn.execute(datasets.insert().values(owner=owner, **values))
    return get_dataset(conn, Scope.everything(), values["id"])


def get_dataset(conn: Connection, scope: Scope, dataset_id: str) -> Dataset:
    return one_by_id(
        conn, scope, datasets, dataset_id, _dataset, f"dataset {dataset_id!r} not found"
    )


def find_platform_dataset(conn: Connection, dataset_id: str) -> Dataset | None:
    stmt = sa.select(datasets).where(
        datasets.c.id == dataset_id, datasets.c.kind == DatasetKind.PLATFORM.value
    )
    row = conn.execute(stmt).mappings().first()
    return None if row is None else _dataset(row)


def list_datasets(
    conn: Connection,
    scope: Scope,
    *,
    kind: str | None,
    ids: list[str] | None = None,
    cursor: str | None,
    limit: int,
) -> Page[Dataset]:
    stmt = sa.select(datasets)
    # `ids`: granted platform datasets, whose visibility the grants already decided.
    stmt = scoped(stmt, datasets, scope) if ids is None else stmt.where(datasets.c.id.in_(ids))
    if kind:
        stmt = stmt.where(datasets.c.kind == kind)
    return paginate(conn, stmt, datasets.c.id, _dataset, cursor=cursor, limit=limit)


def update_dataset(conn: Connection, dataset_id: str, values: dict[str, Any]) -> None:
    conn.execute(datasets.update().where(datasets.c.id == dataset_id).values(**values))


def delete_dataset(conn: Connection, dataset_id: str) -> None:
    version_ids = sa.select(dataset_versions.c.id).where(
        dataset_versions.c.dataset_id == dataset_id
    )
    conn.execute(dataset_files.delete().where(dataset_files.c.version_id.in_(version_ids)))
    conn.execute(dataset_versions.delete().where(dataset_versions.c.dataset_id == dataset_id))
    conn.execute(dataset_grants.delete().where(dataset_grants.c.dataset_id == dataset_id))
    conn.execute(datasets.delete().where(datasets.c.id == dataset_id))


# --- versions -------------------------------------------------------------------------------


def next_version_number(conn: Connection, dataset_id: str) -> int:
    """max + 1 under a lock on the dataset row, so concurrent sessions get distinct numbers.

    (PostgreSQL: `FOR UPDATE` waits for the other writer; SQLite writers are already serialized
    by `BEGIN IMMEDIATE`, and SQLAlchemy leaves `FOR UPDATE` out there.)
    """
    lock = sa.select(datasets.c.id).where(datasets.c.id == dataset_id).with_for_update()
    conn.execute(lock)
    stmt = sa.select(sa.func.coalesce(sa.func.max(dataset_versions.c.number), 0)).where(
        dataset_versions.c.dataset_id == dataset_id
    )
    return int(conn.execute(stmt).scalar_one()) + 1


def insert_version(conn: Connection, values: dict[str, Any]) -> DatasetVersion:
    conn.execute(dataset_versions.insert().values(**values))
    return get_version_by_id(conn, values["id"])


def get_version_by_id(conn: Connection, version_id: str) -> DatasetVersion:
    row = (
        conn.execute(sa.select(dataset_versions).where(dataset_versions.c.id == version_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"version {version_id!r} not found")
    return _version(row)


def get_session(conn: Connection, dataset_id: str, version_id: str) -> DatasetVersion:
    """An upload session (any status) of an already-visible dataset."""
    version = get_version_by_id(conn, version_id)
    if version.dataset_id != dataset_id:
        raise NotFound(f"upload {version_id!r} not found")
    return version


def get_committed(conn: Connection, dataset_id: str, number: int | None) -> DatasetVersion:
    """Version `number` (None: the latest) if committed; uncommitted ones do not exist here."""
    stmt = sa.select(dataset_versions).where(
        dataset_versions.c.dataset_id == dataset_id,
        dataset_versions.c.status == VersionStatus.COMMITTED.value,
    )
    if number is not None:
        stmt = stmt.where(dataset_versions.c.number == number)
    return one(
        conn,
        stmt.order_by(dataset_versions.c.number.desc()).limit(1),
        _version,
        f"version {number if number is not None else 'latest'} not found",
    )


def list_versions(
    conn: Connection, dataset_id: str, status: VersionStatus, *, cursor: str | None, limit: int
) -> Page[DatasetVersion]:
    stmt = sa.select(dataset_versions).where(
        dataset_versions.c.dataset_id == dataset_id, dataset_versions.c.status == status.value
    )
    return paginate(conn, stmt, dataset_versions.c.id, _version, cursor=cursor, limit=limit)


def committed_versions(conn: Connection, dataset_ids: list[str]) -> list[DatasetVersion]:
    stmt = sa.select(dataset_versions).where(
        dataset_versions.c.dataset_id.in_(dataset_ids),
        dataset_versions.c.status == VersionStatus.COMMITTED.value,
    )
    rows = conn.execute(stmt.order_by(dataset_versions.c.number)).mappings().all()
    return [_version(r) for r in rows]


def version_ids(conn: Connection, dataset_id: str) -> list[str]:
    stmt = sa.select(dataset_versions.c.id).where(dataset_versions.c.dataset_id == dataset_id)
    return [str(v) for v in conn.execute(stmt).scalars()]


def transition(
    conn: Connection, version_id: str, src: VersionStatus, values: dict[str, Any]
) -> bool:
    """Atomic status change: True only for the one caller that saw status `src`."""
    stmt = (
        dataset_versions.update()
        .where(dataset_versions.c.id == version_id, dataset_versions.c.status == src.value)
        .values(**values)
    )
    return conn.execute(stmt).rowcount == 1


def expired_sessions(conn: Connection, now: datetime, limit: int) -> list[DatasetVersion]:
    stmt = sa.select(dataset_versions).where(
        dataset_versions.c.status == VersionStatus.UPLOADING.value,
        dataset_versions.c.expires_at < now,
    )
    return [_version(r) for r in conn.execute(stmt.limit(limit)).mappings().all()]


def dead_versions_with_files(conn: Connection, limit: int) -> list[DatasetVersion]:
    """Aborted/expired versions whose objects may still exist (their file rows are the to-do)."""
    has_files = sa.exists().where(dataset_files.c.version_id == dataset_versions.c.id)
    stmt = sa.select(dataset_versions).where(
        dataset_versions.c.status.in_([VersionStatus.ABORTED.value, VersionStatus.EXPIRED.value]),
        has_files,
    )
    return [_version(r) for r in conn.execute(stmt.limit(limit)).mappings().all()]


def live_upload_ids(conn: Connection) -> set[str]:
    """Multipart upload ids that open upload sessions still use (never swept)."""
    f, v = dataset_files, dataset_versions
    stmt = (
        sa.select(f.c.upload_id)
        .select_from(f.join(v))
        .where(f.c.upload_id.is_not(None), v.c.status == VersionStatus.UPLOADING.value)
    )
    return {str(u) for (u,) in conn.execute(stmt)}


def usage_bytes(conn: Connection, tenant_id: str) -> dict[str, int]:
    """Bytes of committed versions and of open sessions (declared or arrived) of a tenant."""
    stmt = (
        sa.select(dataset_versions.c.status, sa.func.coalesce(sa.func.sum(dataset_files.c.size), 0))
        .select_from(dataset_files.join(dataset_versions))
        .where(
            dataset_versions.c.tenant_id == tenant_id,
            dataset_versions.c.status.in_(
                [VersionStatus.COMMITTED.value, VersionStatus.UPLOADING.value]
            ),
        )
        .group_by(dataset_versions.c.status)
    )
    out = {"committed": 0, "uploading": 0}
    for status, total in conn.execute(stmt):
        out[str(status)] = int(total)
    return out


# --- files ----------------------------------------------------------------------------------


def insert_files(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(dataset_files.insert(), rows)


def session_files(conn: Connection, version_id: str) -> list[DatasetFile]:
    stmt = sa.select(dataset_files).where(dataset_files.c.version_id == version_id)
    rows = conn.execute(stmt.order_by(dataset_files.c.path)).mappings().all()
    return [_file(r) for r in rows]


def find_file(conn: Connection, version_id: str, path_key: str) -> DatasetFile | None:
    stmt = sa.select(dataset_files).where(
        dataset_files.c.version_id == version_id, dataset_files.c.path_key == path_key
    )
    row = conn.execute(stmt).mappings().first()
    return None if row is None else _file(row)


def list_files(
    conn: Connection, version_id: str, *, cursor: str | None, limit: int
) -> Page[DatasetFile]:
    stmt = sa.select(dataset_files).where(dataset_files.c.version_id == version_id)
    return paginate(conn, stmt, dataset_files.c.id, _file, cursor=cursor, limit=limit)


def update_file(conn: Connection, file_id: str, values: dict[str, Any]) -> None:
    conn.execute(dataset_files.update().where(dataset_files.c.id == file_id).values(**values))


def delete_files(conn: Connection, version_id: str) -> None:
    conn.execute(dataset_files.delete().where(dataset_files.c.version_id == version_id))

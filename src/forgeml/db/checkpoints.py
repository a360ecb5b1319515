"""Tenant checkpoint locations and the files jobs synced into them (one row per relative path).

File objects are keyed by a file id (`…/checkpoints/<location>/files/<file-id>`), never by the
path the program chose; a rewrite of a path gets a new object and the old one is deleted.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from forgeml.db import columns as col
from forgeml.db.jobs import training_jobs
from forgeml.db.pagination import Page, paginate
from forgeml.db.rows import from_row, one
from forgeml.db.scope import Scope, scoped
from forgeml.db.tables import entity
from forgeml.domain.checkpoints import CheckpointFile, CheckpointLocation
from forgeml.domain.errors import Conflict, InvalidInput

checkpoint_locations = entity(
    "checkpoint_locations",
    col.tenant_column(nullable=False),
    col.string("name", 100),
    col.string("description", 1000),
    col.key("last_job_id", nullable=True),
    *col.stamps(),
    sa.UniqueConstraint("tenant_id", "name"),
)

checkpoint_files = entity(
    "checkpoint_files",
    col.reference("location_id", "checkpoint_locations", ondelete="CASCADE"),
    col.tenant_column(nullable=False, references=False),
    col.string("path", 1024),
    col.typed("size", sa.BigInteger),
    col.string("object_key", 300),
    col.timestamp("updated_at"),
    sa.UniqueConstraint("location_id", "path"),
)

_L, _F = checkpoint_locations, checkpoint_files
_TOTALS = (
    sa.select(
        _F.c.location_id,
        sa.func.count().label("file_count"),
        sa.func.coalesce(sa.func.sum(_F.c.size), 0).label("size_bytes"),
    )
    .group_by(_F.c.location_id)
    .subquery()
)
_SELECT = sa.select(
    _L,
    sa.func.coalesce(_TOTALS.c.file_count, 0).label("file_count"),
    sa.func.coalesce(_TOTALS.c.size_bytes, 0).label("size_bytes"),
).select_from(_L.outerjoin(_TOTALS, _TOTALS.c.location_id == _L.c.id))


def _location(r: RowMapping) -> CheckpointLocation:
    return from_row(CheckpointLocation, r, file_count=int, size_bytes=int)


def _file(r: RowMapping) -> CheckpointFile:
    return from_row(CheckpointFile, r, size=int)


def insert_location(conn: Connection, values: dict[str, Any]) -> CheckpointLocation:
    clash = sa.select(_L.c.id).where(_L.c.tenant_id == values["tenant_id"])
    if conn.execute(clash.where(_L.c.name == values["name"])).first():
        raise Conflict(f"a checkpoint location named {values['name']!r} exists", code="name_taken")
    conn.execute(_L.insert().values(**values))
    return get_location(conn, Scope.everything(), values["id"])


def get_location(conn: Connection, scope: Scope, location_id: str) -> CheckpointLocation:
    return one(
        conn,
        scoped(_SELECT.where(_L.c.id == location_id), _L, scope),
        _location,
        f"checkpoint location {location_id!r} not found",
    )


def find_by_name(conn: Connection, tenant_id: str, name: str) -> CheckpointLocation:
    stmt = _SELECT.where(_L.c.tenant_id == tenant_id, _L.c.name == name)
    return one(conn, stmt, _location, f"checkpoint location {name!r} not found")


def list_locations(
    conn: Connection, scope: Scope, *, cursor: str | None, limit: int
) -> Page[CheckpointLocation]:
    stmt = scoped(_SELECT, _L, scope)
    return paginate(conn, stmt, _L.c.id, _location, cursor=cursor, limit=limit)


def delete_location(conn: Connection, scope: Scope, location_id: str) -> list[str]:
    """Delete the location and its file rows; the object keys the caller must now remove."""
    get_location(conn, scope, location_id)
    keys = [
        str(k)
        for k in conn.execute(
            sa.select(_F.c.object_key).where(_F.c.location_id == location_id)
        ).scalars()
    ]
    conn.execute(_F.delete().where(_F.c.location_id == location_id))
    conn.execute(_L.delete().where(_L.c.id == location_id))
    return keys


def touch_location(conn: Connection, location_id: str, job_id: str, now: datetime) -> None:
    stmt = _L.update().where(_L.c.id == location_id)
    conn.execute(stmt.values(last_job_id=job_id, updated_at=now))


# --- files ----------------------------------------------------------------------------------


def _path_cursor(path: str) -> str:
    return base64.urlsafe_b64encode(path.encode()).decode().rstrip("=")


def _after_path(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode())
        if len(raw) > 1024:
            raise ValueError
        return raw.decode()
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput.fields([{"loc": "cursor", "msg": "not a valid cursor"}]) from exc


def list_files(
    conn: Connection,
    location_id: str,
    *,
    prefix: str = "",
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[CheckpointFile]:
    """Files in path order; the cursor is the last path of the previous page."""
    stmt = sa.select(_F).where(_F.c.location_id == location_id)
    if prefix:
        stmt = stmt.where(_F.c.path.startswith(prefix, autoescape=True))
    if cursor:
        stmt = stmt.where(_F.c.path > _after_path(cursor))
    stmt = stmt.order_by(_F.c.path)
    rows = conn.execute(stmt if limit is None else stmt.limit(limit + 1)).mappings().all()
    items = [_file(r) for r in (rows if limit is None else rows[:limit])]
    more = limit is not None and len(rows) > limit
    return Page(items=items, next_cursor=_path_cursor(items[-1].path) if more else None)


def get_file(conn: Connection, location_id: str, path: str) -> CheckpointFile:
    stmt = sa.select(_F).where(_F.c.location_id == location_id, _F.c.path == path)
    return one(conn, stmt, _file, f"no checkpoint file {path[:200]!r}")


def put_file(conn: Connection, values: dict[str, Any]) -> str | None:
    """Insert or replace the row of `values["path"]`; the replaced object key, if any."""
    where = (_F.c.location_id == values["location_id"]) & (_F.c.path == values["path"])
    old = conn.execute(sa.select(_F.c.object_key).where(where)).scalar_one_or_none()
    if old is not None:
        conn.execute(_F.delete().where(where))
    conn.execute(_F.insert().values(**values))
    return None if old is None else str(old)


def usage_bytes(conn: Connection, tenant_id: str) -> int:
    stmt = sa.select(sa.func.coalesce(sa.func.sum(_F.c.size), 0)).where(_F.c.tenant_id == tenant_id)
    return int(conn.execute(stmt).scalar_one())


def used_by_active_job(
    conn: Connection, tenant_id: str, location_id: str, statuses: Iterable[str]
) -> bool:
    """True when a job of the tenant in one of `statuses` names this location."""
    stmt = sa.select(training_jobs.c.checkpoint_config).where(
        training_jobs.c.tenant_id == tenant_id,
        training_jobs.c.secondary_status.in_(list(statuses)),
        training_jobs.c.checkpoint_config.is_not(None),
    )
    return any(
        (cfg or {}).get("location_id") == location_id for cfg in conn.execute(stmt).scalars()
    )

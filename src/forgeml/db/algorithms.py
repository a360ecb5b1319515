"""Tables and queries of the algorithm registry: algorithms and their immutable versions.

Algorithms are platform-owned (no `tenant_id`): tenant visibility is a rule on the version
(`visible_only`), applied here in one place like `db/scope.py` does for tenant-owned tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from forgeml.db import columns as col
from forgeml.db import wakeups
from forgeml.db.pagination import Page, paginate
from forgeml.db.rows import from_row, one
from forgeml.db.tables import entity
from forgeml.domain.errors import Conflict, NotFound
from forgeml.domain.registry import Algorithm, AlgorithmVersion, VersionStatus

algorithms = entity(
    "algorithms",
    col.string("name", 63, unique=True),
    col.typed("description", sa.Text),
    col.timestamp("created_at"),
)

algorithm_versions = entity(
    "algorithm_versions",
    col.reference("algorithm_id", "algorithms"),
    col.string("name", 63),
    col.string("version", 64),
    col.string("digest", 71),
    col.typed("size_bytes", sa.BigInteger),
    col.typed("manifest", sa.JSON),
    col.typed("card", sa.JSON),
    col.string("status", 16),
    col.typed("failure_reason", sa.Text, nullable=True),
    col.typed("deprecated", sa.Boolean, default=False),
    col.string("bundle_key", 255),
    col.timestamp("created_at"),
    col.string("created_by", 64, nullable=True),
    col.timestamp("env_built_at", nullable=True),
    col.string("build_claimed_by", 64, nullable=True),
    col.timestamp("build_claimed_at", nullable=True),
    sa.UniqueConstraint("algorithm_id", "version"),
    sa.UniqueConstraint("algorithm_id", "digest"),
    sa.Index("ix_algorithm_versions_status", "status"),
)

_V = algorithm_versions


def _algorithm(r: RowMapping) -> Algorithm:
    return from_row(Algorithm, r)


def _version(r: RowMapping) -> AlgorithmVersion:
    return from_row(AlgorithmVersion, r, status=VersionStatus, deprecated=bool)


def _visible(stmt: sa.Select[Any], *, include_deprecated: bool) -> sa.Select[Any]:
    """The tenant view of versions: never failed builds; deprecated ones only on request."""
    stmt = stmt.where(_V.c.status != VersionStatus.FAILED.value)
    return stmt if include_deprecated else stmt.where(_V.c.deprecated.is_(False))


# --- algorithms ----------------------------------------------------------------------------


def get_or_create_algorithm(conn: Connection, values: dict[str, Any]) -> Algorithm:
    """The algorithm named `values["name"]`, created from `values` if new; description updated."""
    row = (
        conn.execute(sa.select(algorithms).where(algorithms.c.name == values["name"]))
        .mappings()
        .first()
    )
    if row is None:
        conn.execute(algorithms.insert().values(**values))
        return get_algorithm(conn, values["id"])
    conn.execute(
        algorithms.update()
        .where(algorithms.c.id == row["id"])
        .values(description=values["description"])
    )
    return get_algorithm(conn, row["id"])


def get_algorithm(
    conn: Connection,
    algorithm_id: str,
    *,
    tenant_view: bool = False,
    include_deprecated: bool = False,
) -> Algorithm:
    stmt = sa.select(algorithms).where(algorithms.c.id == algorithm_id)
    if tenant_view:
        stmt = stmt.where(_has_visible_version(include_deprecated))
    return one(conn, stmt, _algorithm, f"algorithm {algorithm_id!r} not found")


def _has_visible_version(include_deprecated: bool) -> sa.ColumnElement[bool]:
    sub = sa.select(_V.c.id).where(_V.c.algorithm_id == algorithms.c.id)
    return sa.exists(_visible(sub, include_deprecated=include_deprecated))


def list_algorithms(
    conn: Connection,
    *,
    tenant_view: bool,
    include_deprecated: bool,
    name: str | None,
    cursor: str | None,
    limit: int,
) -> Page[Algorithm]:
    stmt = sa.select(algorithms)
    if tenant_view:
        stmt = stmt.where(_has_visible_version(include_deprecated))
    if name:
        stmt = stmt.where(algorithms.c.name == name)
    return paginate(conn, stmt, algorithms.c.id, _algorithm, cursor=cursor, limit=limit)


# --- versions ------------------------------------------------------------------------------


def ensure_new_version(
    conn: Connection, algorithm_id: str, name: str, version: str, digest: str
) -> None:
    """Refuse a name+version (or the same bundle) that is already registered: never overwritten."""
    clash = sa.select(_V.c.id).where(
        _V.c.algorithm_id == algorithm_id, sa.or_(_V.c.version == version, _V.c.digest == digest)
    )
    if conn.execute(clash).first():
        raise Conflict(
            f"{name} {version} (or this very bundle) is already registered; versions are "
            "immutable, bump the version in forgeml.yaml",
            code="already_exists",
        )


def _wake_builders(conn: Connection, values: dict[str, Any]) -> None:
    if values.get("status") == VersionStatus.BUILDING.value:
        wakeups.notify(conn, wakeups.BUILDS)


def insert_version(conn: Connection, values: dict[str, Any]) -> AlgorithmVersion:
    conn.execute(_V.insert().values(**values))
    _wake_builders(conn, values)
    return get_version(conn, values["id"])


def get_version(
    conn: Connection,
    version_id: str,
    *,
    algorithm_id: str | None = None,
    tenant_view: bool = False,
    include_deprecated: bool = False,
) -> AlgorithmVersion:
    stmt = sa.select(_V).where(_V.c.id == version_id)
    if algorithm_id is not None:
        stmt = stmt.where(_V.c.algorithm_id == algorithm_id)
    if tenant_view:
        stmt = _visible(stmt, include_deprecated=include_deprecated)
    return one(conn, stmt, _version, f"algorithm version {version_id!r} not found")


def find_version(conn: Connection, name: str, version: str) -> AlgorithmVersion:
    row = conn.execute(sa.select(_V).where(_V.c.name == name, _V.c.version == version)).mappings()
    found = row.first()
    if found is None:
        raise NotFound(f"algorithm {name} {version} not found")
    return _version(found)


def latest_usable_version(conn: Connection, name: str) -> AlgorithmVersion:
    """The most recently registered version of `name` that is neither deprecated nor failed."""
    stmt = (
        sa.select(_V)
        .where(_V.c.name == name, _V.c.deprecated.is_(False))
        .where(_V.c.status != VersionStatus.FAILED.value)
        .order_by(_V.c.id.desc())
        .limit(1)
    )
    return one(conn, stmt, _version, f"algorithm {name} has no usable version")


def versions_of(
    conn: Connection,
    algorithm_ids: Sequence[str],
    *,
    tenant_view: bool,
    include_deprecated: bool,
) -> dict[str, list[AlgorithmVersion]]:
    """Versions of the given algorithms, newest first, grouped by algorithm id."""
    stmt = sa.select(_V).where(_V.c.algorithm_id.in_(list(algorithm_ids)))
    if tenant_view:
        stmt = _visible(stmt, include_deprecated=include_deprecated)
    out: dict[str, list[AlgorithmVersion]] = {a: [] for a in algorithm_ids}
    for r in conn.execute(stmt.order_by(_V.c.id.desc())).mappings():
        out[r["algorithm_id"]].append(_version(r))
    return out


def update_version(conn: Connection, version_id: str, values: dict[str, Any]) -> AlgorithmVersion:
    conn.execute(_V.update().where(_V.c.id == version_id).values(**values))
    return get_version(conn, version_id)


def set_status(
    conn: Connection, version_id: str, expected: Sequence[VersionStatus], values: dict[str, Any]
) -> bool:
    """Change a version only if its status is one of `expected` (atomic check-and-set)."""
    stmt = (
        _V.update()
        .where(_V.c.id == version_id, _V.c.status.in_([s.value for s in expected]))
        .values(**values)
    )
    changed = conn.execute(stmt).rowcount == 1
    if changed:
        _wake_builders(conn, values)
    return changed


def _claimable_builds(stale_before: datetime) -> sa.Select[tuple[str]]:
    free = sa.or_(_V.c.build_claimed_by.is_(None), _V.c.build_claimed_at < stale_before)
    building = _V.c.status == VersionStatus.BUILDING.value
    return sa.select(_V.c.id).where(building, free).order_by(_V.c.id).limit(1)


def build_waiting(conn: Connection, stale_before: datetime) -> bool:
    """Whether any build could be claimed: the read an idle builder makes instead of a write."""
    return conn.execute(_claimable_builds(stale_before)).first() is not None


def claim_build(conn: Connection, worker: str, now: datetime, stale_before: datetime) -> str | None:
    """Claim one `building` version nobody holds (or whose holder went silent): one statement,
    so concurrent workers on SQLite and PostgreSQL never get the same row."""
    free = sa.or_(_V.c.build_claimed_by.is_(None), _V.c.build_claimed_at < stale_before)
    pick = _claimable_builds(stale_before).scalar_subquery()
    stmt = (
        _V.update()
        .where(_V.c.id == pick, _V.c.status == VersionStatus.BUILDING.value, free)
        .values(build_claimed_by=worker, build_claimed_at=now)
        .returning(_V.c.id)
    )
    return conn.execute(stmt).scalar()


def build_claims(conn: Connection) -> list[tuple[str, str]]:
    """(version id, holder) of every claimed build."""
    stmt = sa.select(_V.c.id, _V.c.build_claimed_by).where(
        _V.c.status == VersionStatus.BUILDING.value, _V.c.build_claimed_by.is_not(None)
    )
    return [(str(r[0]), str(r[1])) for r in conn.execute(stmt)]


def release_build_claim(conn: Connection, version_id: str, holder: str) -> bool:
    """Free the claim of `holder` on a build (only if it still holds it)."""
    stmt = (
        _V.update()
        .where(
            _V.c.id == version_id,
            _V.c.status == VersionStatus.BUILDING.value,
            _V.c.build_claimed_by == holder,
        )
        .values(build_claimed_by=None, build_claimed_at=None)
    )
    released = bool(conn.execute(stmt).rowcount)
    if released:
        wakeups.notify(conn, wakeups.BUILDS)  # claimable again
    return released


def bundle_key_in_use(conn: Connection, key: str) -> bool:
    return conn.execute(sa.select(_V.c.id).where(_V.c.bundle_key == key)).first() is not None

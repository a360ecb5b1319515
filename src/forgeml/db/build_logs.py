"""Tables and queries of environment build logs: the latest build of each algorithm version (its
phase and counters) and its newest lines, capped at `MAX_BUILD_LOG_LINES` a build.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from forgeml.db import columns as col
from forgeml.db.rows import from_row
from forgeml.db.tables import metadata
from forgeml.domain.build_progress import (
    MAX_BUILD_LOG_LINES,
    BuildLine,
    BuildPhase,
    BuildProgress,
)

algorithm_builds = sa.Table(
    "algorithm_builds",
    metadata,
    col.reference("version_id", "algorithm_versions", ondelete="CASCADE", primary_key=True),
    col.typed("attempt", sa.Integer),
    col.string("phase", 16),
    col.timestamp("started_at"),
    col.timestamp("updated_at"),
    col.timestamp("finished_at", nullable=True),
    col.typed("packages_installed", sa.Integer),
    col.typed("lines", sa.Integer),
    col.typed("dropped", sa.Integer),
)

algorithm_build_lines = sa.Table(
    "algorithm_build_lines",
    metadata,
    col.serial(),
    col.reference("version_id", "algorithm_versions", ondelete="CASCADE"),
    col.timestamp("at"),
    col.string("phase", 16),
    col.typed("line", sa.Text),
    sa.Index("ix_algorithm_build_lines_version_id_id", "version_id", "id"),
)

_B = algorithm_builds
_L = algorithm_build_lines


def _progress(r: RowMapping) -> BuildProgress:
    return from_row(BuildProgress, r, phase=BuildPhase)


def _line(r: RowMapping) -> BuildLine:
    return from_row(BuildLine, r, phase=BuildPhase)


def start_build(conn: Connection, version_id: str, now: datetime) -> int:
    """Begin a new build of `version_id`: the previous build's lines go; returns its attempt."""
    conn.execute(sa.delete(_L).where(_L.c.version_id == version_id))
    before = conn.execute(sa.select(_B.c.attempt).where(_B.c.version_id == version_id)).scalar()
    fresh = {
        "phase": BuildPhase.CREATING.value,
        "started_at": now,
        "updated_at": now,
        "finished_at": None,
        "packages_installed": 0,
        "lines": 0,
        "dropped": 0,
    }
    if before is None:
        conn.execute(sa.insert(_B).values(version_id=version_id, attempt=1, **fresh))
        return 1
    conn.execute(
        sa.update(_B).where(_B.c.version_id == version_id).values(attempt=before + 1, **fresh)
    )
    return int(before) + 1


def append(
    conn: Connection,
    version_id: str,
    lines: Sequence[tuple[datetime, BuildPhase, str]],
    *,
    phase: BuildPhase,
    packages_installed: int,
    now: datetime,
) -> None:
    """Add lines and the build's current phase; the oldest lines past the cap are dropped."""
    if lines:
        rows = [
            {"version_id": version_id, "at": at, "phase": p.value, "line": text}
            for at, p, text in lines
        ]
        conn.execute(sa.insert(_L), rows)
    values = {
        "phase": phase.value,
        "updated_at": now,
        "packages_installed": packages_installed,
        "lines": _B.c.lines + len(lines),
    }
    if phase.finished:
        values["finished_at"] = now
    conn.execute(sa.update(_B).where(_B.c.version_id == version_id).values(**values))
    if lines:
        _trim(conn, version_id)


def _trim(conn: Connection, version_id: str) -> None:
    oldest_kept = conn.execute(
        sa.select(_L.c.id)
        .where(_L.c.version_id == version_id)
        .order_by(_L.c.id.desc())
        .offset(MAX_BUILD_LOG_LINES - 1)
        .limit(1)
    ).scalar()
    if oldest_kept is None:
        return
    gone = conn.execute(
        sa.delete(_L).where(_L.c.version_id == version_id, _L.c.id < oldest_kept)
    ).rowcount
    if gone:
        conn.execute(
            sa.update(_B).where(_B.c.version_id == version_id).values(dropped=_B.c.dropped + gone)
        )


def progress(conn: Connection, version_id: str) -> BuildProgress | None:
    """The latest build of a version, or None when it was never built (since this table)."""
    row = conn.execute(sa.select(_B).where(_B.c.version_id == version_id)).mappings().first()
    return None if row is None else _progress(row)


def lines(conn: Connection, version_id: str, *, after: int, limit: int) -> list[BuildLine]:
    """The kept lines with an id above `after`, oldest first."""
    stmt = (
        sa.select(_L.c.id, _L.c.at, _L.c.phase, _L.c.line)
        .where(_L.c.version_id == version_id, _L.c.id > after)
        .order_by(_L.c.id)
        .limit(limit)
    )
    return [_line(r) for r in conn.execute(stmt).mappings()]

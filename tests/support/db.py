"""Real databases for tests: a migrated SQLite file, or a fresh PostgreSQL database per test.

PostgreSQL databases are cloned from a migrated template (CREATE DATABASE ... TEMPLATE), so each
test starts empty without paying for migrations again.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from forgeml.db import migrate
from forgeml.db.engine import Database
from tests.support.services import service_missing

PG_ADMIN_URL = os.environ.get(
    "FORGEML_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_admin() -> sa.Engine:
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason."""
    try:
        eng = _pg_admin()
        with eng.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as exc:
        return f"PostgreSQL at {PG_ADMIN_URL} unreachable: {type(exc).__name__}"


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


class DatabaseFactory:
    """Creates migrated databases of one kind; one factory per test session (and xdist worker)."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.workdir = workdir
        self.worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self._template: str | None = None

    def _sqlite_template(self) -> Path:
        path = self.workdir / "template.db"
        if not path.exists():
            db = Database(f"sqlite:///{path}")
            migrate.upgrade(db)
            db.dispose()
        return path

    def _pg_template(self) -> str:
        if self._template is None:
            reason = pg_available()
            if reason:
                service_missing(reason)
            name = f"fmltpl_{self.worker}_{uuid.uuid4().hex[:8]}"
            eng = _pg_admin()
            with eng.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            eng.dispose()
            db = Database(_pg_url(name))
            migrate.upgrade(db)
            db.dispose()
            self._template = name
        return self._template

    @contextmanager
    def new(self) -> Iterator[Database]:
        if self.kind == "sqlite":
            path = self.workdir / f"t_{uuid.uuid4().hex[:10]}.db"
            shutil.copy(self._sqlite_template(), path)
            db = Database(f"sqlite:///{path}")
            try:
                yield db
            finally:
                db.dispose()
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        tpl = self._pg_template()
        name = f"fml_{uuid.uuid4().hex[:12]}"
        eng = _pg_admin()
        with eng.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{tpl}"'))
        db = Database(_pg_url(name))
        try:
            yield db
        finally:
            db.dispose()
            with eng.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            eng.dispose()

    def close(self) -> None:
        if self._template:
            eng = _pg_admin()
            with eng.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self._template}" WITH (FORCE)'))
            eng.dispose()


@contextmanager
def empty_database(kind: str, workdir: Path) -> Iterator[Database]:
    """An unmigrated database (for migration tests)."""
    if kind == "sqlite":
        db = Database(f"sqlite:///{workdir / ('empty_' + uuid.uuid4().hex[:8] + '.db')}")
        try:
            yield db
        finally:
            db.dispose()
        return
    with private_pg_database("fmlempty") as url:
        db = Database(url)
        try:
            yield db
        finally:
            db.dispose()


@contextmanager
def private_pg_database(prefix: str) -> Iterator[str]:
    """A fresh, empty database on the shared PostgreSQL, dropped afterwards (skip when absent,
    fail under CI); its URL."""
    reason = pg_available()
    if reason:
        service_missing(reason)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    eng = _pg_admin()
    with eng.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(name)
    finally:
        with eng.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        eng.dispose()

"""The metadata database: engine creation per URL scheme and read/write transactions.

SQLite gets WAL, foreign keys and a busy timeout, and write transactions start with
`BEGIN IMMEDIATE` so two writers never deadlock on a lock upgrade. PostgreSQL uses psycopg 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from forgeml.db import wakeups
from forgeml.domain.errors import Conflict, InvalidInput, Unavailable


def normalize_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` and point them at psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("sqlite://", "postgresql+psycopg://")):
        return url
    raise InvalidInput(
        f"unsupported database_url scheme in {url.split('://', 1)[0]!r}; "
        "use sqlite:///path or postgresql+psycopg://user@host/db",
        code="invalid_config",
    )


# How long a client should wait before retrying while the database is unreachable.
RETRY_AFTER_S = 2
# SQLite operational errors that mean "try again" rather than a bug (locks, I/O on the file).
_SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o")


def is_outage(exc: BaseException) -> bool:
    """True when the database is unreachable or busy (worth a retry), not the query wrong."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.exc.TimeoutError | sa.exc.InterfaceError):
        return True
    if isinstance(exc, sa.exc.OperationalError):
        module = type(exc.orig).__module__ if exc.orig is not None else ""
        if module.startswith("sqlite3"):
            return any(word in str(exc.orig).lower() for word in _SQLITE_TRANSIENT)
        return True
    return False


def unavailable(exc: BaseException) -> Unavailable:
    return Unavailable(
        f"database unavailable ({type(exc).__name__}); retry later",
        details={"retry_after_s": RETRY_AFTER_S},
    )


def race_conflict(exc: sa.exc.IntegrityError) -> Conflict | None:
    """A unique or foreign-key violation a concurrent request caused, as a clean 409; else None.

    Services check "exists?" before inserting; two requests can both pass that check, and the
    constraint then refuses the second one. NOT NULL or CHECK violations stay errors (bugs).
    """
    orig = exc.orig
    state, text = getattr(orig, "sqlstate", None), str(orig)
    if state == "23505" or "UNIQUE constraint failed" in text:
        return Conflict(
            "a concurrent request created the same thing; it already exists",
            code="already_exists",
        )
    if state == "23503" or "FOREIGN KEY constraint failed" in text:
        return Conflict("a concurrent request changed what this refers to; retry", code="conflict")
    return None


@contextmanager
def translated_errors() -> Iterator[None]:
    """Outages become `Unavailable` (503 + Retry-After), constraint races `Conflict` (409)."""
    try:
        yield
    except sa.exc.IntegrityError as exc:
        if (conflict := race_conflict(exc)) is not None:
            raise conflict from exc
        raise
    except sa.exc.SQLAlchemyError as exc:
        if is_outage(exc):
            raise unavailable(exc) from exc
        raise


#: AnyIO's default worker-thread limit: at most this many requests hold a connection at once.
SQLITE_POOL_SIZE = 40


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def create_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # No pre-ping (a local file does not drop connections) and a pool as large as the
        # server's worker threads: an overflow connection is closed on return, so every request
        # beyond the pool paid a fresh connect and its PRAGMAs (seen in py-spy under load).
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_SIZE,
        )
        _sqlite_setup(engine)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """Owns the engine; services open `read()` or `write()` transactions on it."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = create_engine(self.url)
        self.dialect = self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction: committed on success, rolled back on any exception; then
        the in-process wake-ups it notified fire (SQLite, `db/wakeups.py`)."""
        with translated_errors(), self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                wakeups.rolled_back(conn)
                raise
            wakeups.committed(conn)  # after the commit: a woken loop reads what was written

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with translated_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            raise unavailable(exc) from exc

    def dispose(self) -> None:
        self.engine.dispose()

"""Event-driven wake-ups of the worker loops: `notify` in the transaction that made work, and a
`Wakeups` hub per process that turns notifications into `threading.Event`s, one set per channel.

PostgreSQL: `pg_notify`, delivered on commit (never for a rollback) to one `LISTEN` connection
per process. SQLite (one process): an in-process signal fired by `Database.write` after commit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from forgeml.domain import retry

log = structlog.get_logger("forgeml.wakeups")

JOBS = "forgeml_jobs"  # a job became claimable, or a runner slot was freed
BUILDS = "forgeml_builds"  # an algorithm environment build is waiting
EVENTS = "forgeml_events"  # an outbox event, webhook delivery or e-mail became due
CHANNELS = (JOBS, BUILDS, EVENTS)

_PENDING = "forgeml_wakeups"  # conn.info key: channels a SQLite transaction notified
_LOCAL_HUBS: set[Wakeups] = set()  # the hubs of this process that take in-process signals
_LOCK = threading.Lock()


def notify(conn: Connection, channel: str) -> None:
    """Wake the listeners of `channel` once the caller's transaction commits."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown wake-up channel {channel!r}")
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": channel})
    else:
        conn.info.setdefault(_PENDING, set()).add(channel)


def committed(conn: Connection) -> None:
    """`Database.write` after a commit: fire what the transaction notified (SQLite only)."""
    channels = conn.info.pop(_PENDING, None)
    if channels:
        with _LOCK:
            hubs = list(_LOCAL_HUBS)
        for hub in hubs:
            hub.fire(channels)


def rolled_back(conn: Connection) -> None:
    """`Database.write` after a rollback: what it notified never happened."""
    conn.info.pop(_PENDING, None)


class Wakeups:
    """Per channel, the events to set when it is notified; `start()` begins listening.

    Notifications may be lost while PostgreSQL is away: after every (re)connect the hub wakes
    every subscriber once, and the loops' polling floor covers the rest.
    """

    def __init__(self, url: str, channels: Iterable[str] = CHANNELS) -> None:
        self.url = sa.engine.make_url(url)
        self.channels = tuple(channels)
        self.subscribers: dict[str, list[threading.Event]] = {c: [] for c in self.channels}
        self.connected = threading.Event()  # the LISTEN connection is up (PostgreSQL)
        self.backend_pid: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def local(self) -> bool:
        return self.url.get_backend_name() != "postgresql"

    def subscribe(self, channel: str, event: threading.Event) -> threading.Event:
        self.subscribers[channel].append(event)
        return event

    def fire(self, channels: Iterable[str]) -> None:
        for channel in channels:
            for event in self.subscribers.get(channel, ()):
                event.set()

    def start(self) -> None:
        if self.local:
            with _LOCK:
                _LOCAL_HUBS.add(self)
            return
        self._thread = threading.Thread(target=self._listen, name="forgeml-wakeups", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        with _LOCK:
            _LOCAL_HUBS.discard(self)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _conninfo(self) -> str:
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def _listen(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._listen_once()
                failures = 0
            except Exception as exc:  # psycopg errors, DNS, refused connections: retry
                self.connected.clear()
                failures += 1
                wait = retry.delay(failures, base_s=0.5, cap_s=10.0)
                log.warning("wake-up listener lost", error=type(exc).__name__, retry_in_s=wait)
                self._stop.wait(wait)

    def _listen_once(self) -> None:
        import psycopg
        from psycopg import sql

        # Keepalives: a peer that vanished without closing the socket is noticed, not waited on.
        with psycopg.connect(
            self._conninfo(), autocommit=True, connect_timeout=10,
            keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3,
        ) as conn:  # fmt: skip
            for channel in self.channels:
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self.backend_pid = conn.info.backend_pid
            self.connected.set()
            self.fire(self.channels)  # something may have happened while nobody listened
            while not self._stop.is_set():
                # Waits on the socket (no statement); the timeout only bounds how late close() is.
                for note in conn.notifies(timeout=1.0):
                    self.fire([note.channel])
        self.connected.clear()

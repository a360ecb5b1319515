"""Wake-ups (db/wakeups.py) on real databases: a committed write wakes a listener on another
connection or in another process; a rolled-back one wakes nobody; the PostgreSQL listener
survives its backend being killed and wakes everyone after it reconnects."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from forgeml.db import wakeups
from forgeml.db.engine import Database
from forgeml.db.types import utcnow
from forgeml.domain.ids import new_id
from forgeml.domain.jobs import Secondary
from forgeml.queue import transitions
from forgeml.queue.policies import AFTER, WakeRunners
from tests.integration.test_jobs_queue import tenant
from tests.support.db import DatabaseFactory

WAIT_S = 30.0  # a functional bound: a notification that has not come by then never will


@contextmanager
def listening(url: str) -> Iterator[wakeups.Wakeups]:
    h = wakeups.Wakeups(url)
    h.start()
    try:
        assert h.local or h.connected.wait(WAIT_S)
        yield h
    finally:
        h.close()


@pytest.fixture
def hub(database: Database) -> Iterator[wakeups.Wakeups]:
    with listening(database.url) as h:
        yield h


def subscribed(hub: wakeups.Wakeups, *channels: str) -> dict[str, threading.Event]:
    """One event per channel, cleared after the hub's wake-everyone on connect."""
    events = {c: hub.subscribe(c, threading.Event()) for c in channels}
    for e in events.values():
        e.clear()
    return events


def write_notifying(url: str, channel: str) -> None:
    other = Database(url)  # its own engine: another connection than any the hub knows
    try:
        with other.write() as conn:
            wakeups.notify(conn, channel)
    finally:
        other.dispose()


def test_a_committed_write_wakes_a_listener_of_another_connection(
    database: Database, hub: wakeups.Wakeups
) -> None:
    got = subscribed(hub, wakeups.JOBS, wakeups.BUILDS)
    write_notifying(database.url, wakeups.JOBS)
    assert got[wakeups.JOBS].wait(WAIT_S)
    assert not got[wakeups.BUILDS].is_set()  # only the channel notified


def notify_then_fail(db: Database, channel: str) -> None:
    with db.write() as conn:
        wakeups.notify(conn, channel)
        raise RuntimeError("rolled back")


def test_a_rolled_back_write_wakes_nobody(database: Database, hub: wakeups.Wakeups) -> None:
    got = subscribed(hub, wakeups.JOBS, wakeups.BUILDS)
    with pytest.raises(RuntimeError, match="rolled back"):
        notify_then_fail(database, wakeups.JOBS)
    with database.write() as conn:  # a later commit on the same pooled connection
        wakeups.notify(conn, wakeups.BUILDS)
    # Notifications arrive in commit order: once BUILDS is here, a JOBS one would be too.
    assert got[wakeups.BUILDS].wait(WAIT_S)
    assert not got[wakeups.JOBS].is_set()


def test_an_unknown_channel_is_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="unknown wake-up channel"), database.write() as conn:
        wakeups.notify(conn, "forgeml_anything; DROP TABLE jobs")


def submit(db: Database) -> str:
    """A job created the way the jobs service does it: through `transitions.create`."""
    values = {
        "id": new_id("job"), "tenant_id": tenant(db, "t"), "name": "woken",
        "algorithm_version_id": "alv_x", "algorithm_name": "x", "algorithm_version": "1.0.0",
        "algorithm_digest": "sha256:0", "hyperparameters": {}, "inputs": {},
        "resource_class": "cpu.small", "instance_count": 1, "volume_gb": 1, "max_runtime_s": 60,
        "max_attempts": 2, "checkpointing": False, "preemptible": False, "network": False,
        "environment": {}, "tags": {}, "attempt": 0, "gpu_indices": [], "final_metrics": {},
        "artifacts": {}, "created_at": utcnow(), "updated_at": utcnow(),
    }  # fmt: skip
    with db.write() as conn:
        return transitions.create(conn, values).id


def test_submitting_or_ending_a_job_wakes_the_runners(
    database: Database, hub: wakeups.Wakeups
) -> None:
    assert any(isinstance(p, WakeRunners) for p in AFTER)  # the named policy does it
    got = subscribed(hub, wakeups.JOBS, wakeups.BUILDS)
    job_id = submit(database)
    assert got[wakeups.JOBS].wait(WAIT_S)
    got[wakeups.JOBS].clear()
    with database.write() as conn:
        assert transitions.move(conn, job_id, Secondary.STOPPED, "stopped") is not None
    assert got[wakeups.JOBS].wait(WAIT_S)  # an ended job may have freed a slot
    assert not got[wakeups.BUILDS].is_set()


@pytest.fixture
def pg(db_factories: dict[str, DatabaseFactory]) -> Iterator[tuple[Database, wakeups.Wakeups]]:
    """A PostgreSQL database and a hub listening on it."""
    with db_factories["postgres"].new() as db, listening(db.url) as h:
        yield db, h


@pytest.mark.postgres
def test_a_notification_crosses_processes(pg: tuple[Database, wakeups.Wakeups]) -> None:
    db, h = pg
    got = subscribed(h, wakeups.EVENTS)
    code = (
        "import sys; from tests.integration.test_wakeups import write_notifying; "
        "write_notifying(sys.argv[1], 'forgeml_events')"
    )
    subprocess.run([sys.executable, "-c", code, db.url], check=True, timeout=120)
    assert got[wakeups.EVENTS].wait(WAIT_S)


@pytest.mark.postgres
def test_the_listener_reconnects_after_its_backend_is_killed(
    pg: tuple[Database, wakeups.Wakeups],
) -> None:
    db, h = pg
    got = subscribed(h, wakeups.JOBS)
    first = h.backend_pid
    with db.write() as conn:
        killed = conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": first})
        assert killed.scalar_one() is True
    # After reconnecting it wakes everyone once: something may have been missed meanwhile.
    assert got[wakeups.JOBS].wait(WAIT_S)
    assert h.connected.wait(WAIT_S) and h.backend_pid != first
    got[wakeups.JOBS].clear()
    write_notifying(db.url, wakeups.JOBS)
    assert got[wakeups.JOBS].wait(WAIT_S)  # and listens again

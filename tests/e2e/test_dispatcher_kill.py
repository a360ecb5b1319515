"""kill -9 of a `forgeml worker` in the middle of a webhook delivery loses nothing: a restarted
worker retakes the delivery when its lease expires (same event id), and events written while no
dispatcher ran are delivered once after the restart. On SQLite (file) and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.db.webhooks import deliveries as deliveries_table
from tests.support.notify import (
    Receiver,
    dataset_committed,
    deliveries,
    hook,
    job_finished,
    verify,
    wait_for,
)
from tests.support.world import World

FORGEML = str(Path(sys.executable).parent / "forgeml")


@pytest.fixture
def settings(tmp_path: Path, database: Database) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database.url,
        storage_url="memory://test",
        webhooks={"allow_hosts": ["127.0.0.1"]},
    )


@pytest.fixture
def worker_env(tmp_path: Path, database: Database) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGEML_")}
    env.update(
        FORGEML_HOME=str(tmp_path / "worker-home"),
        FORGEML_DATABASE_URL=database.url,
        FORGEML_STORAGE_URL=f"file://{tmp_path / 'objects'}",
        FORGEML_WEBHOOKS__ALLOW_HOSTS='["127.0.0.1"]',
        FORGEML_WEBHOOKS__TIMEOUT_S="2",
        FORGEML_WEBHOOKS__LEASE_S="3",
        FORGEML_WEBHOOKS__BACKOFF_BASE_S="0.1",
        FORGEML_WEBHOOKS__POLL_INTERVAL_S="0.1",
        FORGEML_WEBHOOKS__CONCURRENCY="1",
    )
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([FORGEML, "worker"], env=env, stdout=out, stderr=out)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def delivery_states(world: World) -> list[str]:
    with world.services.db.read() as conn:
        return [str(s) for s in conn.execute(sa.select(deliveries_table.c.state)).scalars()]


def test_kill_9_mid_delivery_loses_nothing(
    world: World,
    worker_env: dict[str, str],
    procs: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    receiver = Receiver(block=threading.Event()).start()
    log = tmp_path / "worker.log"
    try:
        h = hook(world, receiver.url, ["training_job.*", "dataset.*"])
        event = job_finished(world.services, world.a.id)
        procs.append(start_worker(worker_env, log))
        assert receiver.arrived.wait(60), log.read_text()
        assert delivery_states(world) == ["delivering"]  # the request is in flight
        procs[0].kill()  # SIGKILL: no clean-up of any kind
        procs[0].wait(10)
        receiver.block.set()  # type: ignore[union-attr]
        # written while no dispatcher runs: the persisted cursor must still reach it
        later = dataset_committed(world.services, world.a.id)
        procs.append(start_worker(worker_env, log))
        wait_for(lambda: delivery_states(world) == ["delivered", "delivered"], timeout=60)
    finally:
        receiver.stop()
    ids = [r.headers["x-forgeml-event-id"] for r in receiver.got]
    assert sorted(ids) == sorted([event.id, event.id, later.id])  # the duplicate is the same event
    assert all(verify(h["secret"], r) for r in receiver.got)
    rows = {d["event_id"]: d for d in deliveries(world, h["id"])}
    assert rows[event.id]["attempts"] == 2 and rows[later.id]["attempts"] == 1
    dup = [r.headers["x-forgeml-delivery"] for r in receiver.got if r.envelope["id"] == event.id]
    assert dup == [rows[event.id]["id"]] * 2

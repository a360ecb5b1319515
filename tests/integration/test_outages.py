"""A database outage answers 503 `unavailable` with Retry-After, for reads and writes, and the
API recovers by itself; an unexpected error still gets its request id, access log, metric, audit.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from forgeml import logs
from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.db.jobs import job_logs, runners
from forgeml.db.types import utcnow
from forgeml.domain.errors import Unavailable
from forgeml.main import build_app
from forgeml.queue import claims
from forgeml.services.container import Services
from forgeml.services.jobs.log_sink import LogSink
from forgeml.storage.memory import MemoryObjectStore
from forgeml.training.spec import LogLine
from forgeml.workers.base import Supervisor
from forgeml.workers.runner import RunnerLoop
from tests.integration.test_jobs_queue import job, runner, tenant
from tests.support.db import DatabaseFactory
from tests.support.tcp_proxy import TcpProxy
from tests.support.world import World, build_world
from tests.unit.test_supervisor import eventually

API = "/api/v1"


@pytest.fixture
def proxied(db_factories: dict[str, DatabaseFactory]) -> Iterator[tuple[Database, TcpProxy]]:
    """A PostgreSQL database reached only through a proxy the test can cut."""
    with db_factories["postgres"].new() as real:
        url = sa.make_url(real.url)
        proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        proxy.restore()
        db = Database(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
        try:
            yield db, proxy
        finally:
            proxy.cut()
            db.dispose()


@pytest.fixture
def proxy_world(
    tmp_path: Path, proxied: tuple[Database, TcpProxy]
) -> Iterator[tuple[World, TcpProxy]]:
    db, proxy = proxied
    settings = Settings(home=tmp_path / "home", database_url=db.url, storage_url="memory://t")
    services = Services.build(settings, db, MemoryObjectStore("t"))
    with TestClient(build_app(services)) as client:
        yield build_world(client, services), proxy


def test_a_worker_started_while_the_database_is_down_registers_once_it_is_back(
    tmp_path: Path, proxied: tuple[Database, TcpProxy]
) -> None:
    db, proxy = proxied
    settings = Settings(
        home=tmp_path / "home",
        database_url=db.url,
        storage_url="memory://t",
        jobs={"runner_name": "late-runner"},
    )
    services = Services.build(settings, db, MemoryObjectStore("t"))
    loop = RunnerLoop(services.job_runs)
    proxy.cut()
    sup = Supervisor([loop])
    sup.start()
    try:
        assert eventually(lambda: loop.last_beat > 0)
        proxy.restore()
        assert eventually(lambda: services.job_runs.runner is not None, timeout_s=60)
        assert sup.dead() == []
        with db.read() as conn:
            names = conn.execute(sa.select(runners.c.name)).scalars().all()
        assert names == ["late-runner"]
    finally:
        sup.stop()


def test_the_log_sink_keeps_its_batch_through_an_outage(
    proxied: tuple[Database, TcpProxy],
) -> None:
    db, proxy = proxied
    job_id = job(db, tenant(db, "t"), "logs")
    with db.write() as conn:
        lease = claims.claim(conn, runner(db), 30)
    assert lease is not None
    sink = LogSink(db, lease, [])
    sink(LogLine(time=utcnow(), host="algo-1", stream="stdout", text="before the outage"))
    proxy.cut()
    with pytest.raises(Unavailable):
        sink.flush()
    sink(LogLine(time=utcnow(), host="algo-1", stream="stdout", text="during the outage"))
    proxy.restore()
    sink.flush_patiently(30)
    with db.read() as conn:
        texts = conn.execute(
            sa.select(job_logs.c.text).where(job_logs.c.job_id == job_id).order_by(job_logs.c.id)
        ).scalars()
        assert list(texts) == ["before the outage", "during the outage"]


def test_a_database_outage_answers_503_with_retry_after_and_recovers(
    proxy_world: tuple[World, TcpProxy],
) -> None:
    world, proxy = proxy_world
    c, h = world.client, world.a.h()
    assert c.get(f"{API}/datasets", headers=h).status_code == 200
    proxy.cut()
    read = c.get(f"{API}/datasets", headers=h)
    write = c.post(f"{API}/datasets", json={"name": "during", "kind": "tenant"}, headers=h)
    for resp in (read, write):
        assert resp.status_code == 503, resp.text
        err = resp.json()["error"]
        assert err["code"] == "unavailable"
        assert "127.0.0.1" not in resp.text and str(proxy.port) not in resp.text, err
        assert int(resp.headers["retry-after"]) > 0
        assert resp.headers["x-request-id"]
    ready = c.get("/readyz")
    assert ready.status_code == 503
    proxy.restore()
    assert c.get(f"{API}/datasets", headers=h).status_code == 200
    made = c.post(f"{API}/datasets", json={"name": "after", "kind": "tenant"}, headers=h)
    assert made.status_code == 201, made.text


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Route the process logs, rendered as JSON lines, into a buffer for the test."""
    root = logging.getLogger()
    saved, level, stderr = root.handlers[:], root.level, sys.stderr
    buf = io.StringIO()
    sys.stderr = buf
    try:
        logs.configure("INFO", "json")
        yield buf
    finally:
        sys.stderr = stderr
        root.handlers[:] = saved
        root.setLevel(level)


def test_an_unexpected_error_keeps_its_trace(
    world: World, json_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(world.services.datasets, "create", boom)
    c, h = world.client, world.a.h()
    resp = c.post(
        f"{API}/datasets",
        json={"name": "x", "kind": "tenant"},
        headers={**h, "X-Request-ID": "rid-boom-1"},
    )
    assert resp.status_code == 500
    assert resp.headers["x-request-id"] == "rid-boom-1"
    assert resp.json()["error"] == {
        "code": "internal_error",
        "message": "internal error; quote the request id",
        "details": {"request_id": "rid-boom-1"},
    }
    lines = [json.loads(line) for line in json_log.getvalue().splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("request_id") == "rid-boom-1"]
    error = next(line for line in mine if line["event"] == "unhandled error")
    assert "RuntimeError: kaboom" in error["exception"]
    assert "Traceback" in error["exception"]
    access = next(line for line in mine if line["event"] == "request")
    assert access["status"] == 500
    metrics = c.get("/metrics").text
    assert any('status="500"' in m and "/api/v1/datasets" in m for m in metrics.splitlines()), (
        metrics
    )
    audit = c.get(f"{API}/audit", params={"action": "dataset.create"}, headers=world.admin)
    rows = [r for r in audit.json()["items"] if r.get("request_id") == "rid-boom-1"]
    assert rows and rows[0]["outcome"] == "failure"

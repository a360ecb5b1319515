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
from forgeml.main import build_app
from forgeml.services.container import Services
from forgeml.storage.memory import MemoryObjectStore
from tests.support.db import DatabaseFactory
from tests.support.tcp_proxy import TcpProxy
from tests.support.world import World, build_world

API = "/api/v1"


@pytest.fixture
def proxy_world(
    tmp_path: Path, db_factories: dict[str, DatabaseFactory]
) -> Iterator[tuple[World, TcpProxy]]:
    """A world whose PostgreSQL connections all pass through a proxy the test can cut."""
    with db_factories["postgres"].new() as real:
        url = sa.make_url(real.url)
        proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        proxy.restore()
        db = Database(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
        settings = Settings(home=tmp_path / "home", database_url=db.url, storage_url="memory://t")
        services = Services.build(settings, db, MemoryObjectStore("t"))
        try:
            with TestClient(build_app(services)) as client:
                yield build_world(client, services), proxy
        finally:
            proxy.cut()
            db.dispose()


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
        assert resp.json()["error"]["code"] == "unavailable"
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

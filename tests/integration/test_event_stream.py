"""The live event stream (SSE) over a real socket: tenant scoping, resume, type filter,
keep-alives, disconnect clean-up; plus the event-type catalogue."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.domain.events import CATALOGUE
from tests.support.notify import dataset_committed, job_finished, live_server, wait_for
from tests.support.threads import CheckedThread, running
from tests.support.world import World, auth


@pytest.fixture
def settings(tmp_path: Path, database: Database) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database.url,
        storage_url="memory://test",
        events={"poll_s": 0.05, "keepalive_s": 0.3, "recheck_s": 0.2},
    )


@pytest.fixture
def url(app: FastAPI, world: World) -> Iterator[str]:
    yield from live_server(app)


def read_stream(
    url: str,
    headers: dict[str, str],
    want: int,
    params: dict[str, Any] | None = None,
    timeout: float = 15.0,
) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """Read until `want` events arrived (or the deadline); returns events and comment lines."""
    import json

    events: list[tuple[int, dict[str, Any]]] = []
    comments: list[str] = []
    deadline = time.monotonic() + timeout
    seq = None
    with httpx.stream(
        "GET",
        f"{url}/api/v1/events/stream",
        headers=headers,
        params=params,
        timeout=httpx.Timeout(5.0),
    ) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith(":"):
                comments.append(line)
            elif line.startswith("id:"):
                seq = int(line[3:])
            elif line.startswith("data:") and seq is not None:
                events.append((seq, json.loads(line[5:])))
            if len(events) >= want or time.monotonic() > deadline:
                break
    return events, comments


def emit_mix(world: World) -> None:
    job_finished(world.services, world.a.id, job_id="job_a")
    dataset_committed(world.services, world.b.id)
    dataset_committed(world.services, world.a.id)
    job_finished(world.services, world.b.id, job_id="job_b")


def test_tenant_streams_carry_only_their_tenant(url: str, world: World) -> None:
    emit_mix(world)
    for role in ("tenant-admin", "member", "viewer"):
        got, _ = read_stream(url, world.a.h(role), want=2, params={"after": 0})
        assert {e["tenant_id"] for _, e in got} == {world.a.id}
        assert [e["type"] for _, e in got] == [
            "training_job.completed",
            "dataset.version_committed",
        ]
    got_b, _ = read_stream(url, world.b.h("viewer"), want=2, params={"after": 0})
    assert {e["tenant_id"] for _, e in got_b} == {world.b.id}
    assert "job_a" not in str(got_b)


def test_platform_admin_sees_all_and_may_filter_by_tenant(url: str, world: World) -> None:
    emit_mix(world)
    every, _ = read_stream(url, world.admin, want=4, params={"after": 0})
    assert {e["tenant_id"] for _, e in every} == {world.a.id, world.b.id}
    only_b, _ = read_stream(url, world.admin, want=2, params={"after": 0, "tenant_id": world.b.id})
    assert {e["tenant_id"] for _, e in only_b} == {world.b.id}


def test_tenant_cannot_ask_for_another_tenant(url: str, world: World) -> None:
    resp = httpx.get(
        f"{url}/api/v1/events/stream", headers=world.a.h(), params={"tenant_id": world.b.id}
    )
    assert resp.status_code == 422
    assert httpx.get(f"{url}/api/v1/events/stream").status_code == 401


def test_resume_from_last_event_id_and_type_filter(url: str, world: World) -> None:
    emit_mix(world)
    first, _ = read_stream(url, world.a.h(), want=2, params={"after": 0})
    (seq1, _), (seq2, env2) = first
    resumed, _ = read_stream(url, {**world.a.h(), "Last-Event-ID": str(seq1)}, want=1)
    assert resumed == [(seq2, env2)]
    jobs, _ = read_stream(url, world.a.h(), want=1, params={"after": 0, "types": "training_job.*"})
    assert [e["type"] for _, e in jobs] == ["training_job.completed"]
    bad = httpx.get(f"{url}/api/v1/events/stream", headers=world.a.h(), params={"types": "x"})
    assert bad.status_code == 422


def test_live_events_arrive_while_streaming(url: str, world: World) -> None:
    dataset_committed(world.services, world.a.id)  # before the stream: not replayed

    def later() -> None:  # once the stream has fixed its starting point
        wait_for(lambda: world.services.events.open_streams == 1)
        job_finished(world.services, world.b.id, job_id="job_b")
        job_finished(world.services, world.a.id, job_id="job_live")

    with running([CheckedThread(target=later)]):
        got, _ = read_stream(url, world.a.h("viewer"), want=1)
    assert [e["data"]["job_id"] for _, e in got] == ["job_live"]


def test_idle_streams_get_keepalive_comments(url: str, world: World) -> None:
    with httpx.stream("GET", f"{url}/api/v1/events/stream", headers=world.a.h()) as resp:
        lines = resp.iter_lines()
        assert next(lines) == "retry: 3000"
        assert next(line for line in lines if line) == ": keep-alive"


def test_stream_ends_when_the_client_disconnects_and_does_not_block(url: str, world: World) -> None:
    events = world.services.events
    with httpx.stream("GET", f"{url}/api/v1/events/stream", headers=world.a.h()) as resp:
        assert resp.status_code == 200
        wait_for(lambda: events.open_streams == 1)
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200  # server still serves
    wait_for(lambda: events.open_streams == 0)


def test_revoked_token_ends_an_open_stream(url: str, world: World) -> None:
    events = world.services.events
    c = world.client
    tok = c.post("/api/v1/tokens", headers=world.a.h("member"), json={"name": "sse"}).json()
    with httpx.stream("GET", f"{url}/api/v1/events/stream", headers=auth(tok["token"])) as resp:
        assert resp.status_code == 200
        wait_for(lambda: events.open_streams == 1)
        revoked = c.delete(f"/api/v1/tokens/{tok['id']}", headers=world.a.h("member"))
        assert revoked.status_code == 200
        wait_for(lambda: events.open_streams == 0)


def test_event_types_lists_the_catalogue_with_schemas(world: World) -> None:
    resp = world.client.get("/api/v1/events/types", headers=world.a.h("viewer"))
    assert resp.status_code == 200
    types = {t["type"]: t for t in resp.json()}
    assert set(types) == set(CATALOGUE)
    finished = types["training_job.completed"]
    assert finished["version"] == 1
    props = finished["schema"]["properties"]
    assert {"job_id", "job_name", "status", "failure_reason", "artifacts"} <= set(props)
    assert {"billable_seconds", "final_metrics"} <= set(props)
    changed = types["training_job.state_changed"]["schema"]["properties"]
    assert {"secondary_status", "previous_status", "message"} <= set(changed)
    assert world.client.get("/api/v1/events/types").status_code == 401

"""Every server-sent event stream shares one loop (`edge/sse.py`): over a real socket each of them
sends keep-alive comments while idle and ends once its credential is revoked."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI

from forgeml.config import EventStreamSettings, Settings
from tests.support.jobs import JOBS, job_body, register_algorithm, submit, upload_dataset
from tests.support.notify import live_server
from tests.support.world import PASSWORD, World, auth


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with streams that poll, keep alive and re-check within a second."""
    fast = EventStreamSettings(poll_s=0.05, keepalive_s=0.3, recheck_s=0.2)
    return settings.model_copy(update={"events": fast})


@pytest.fixture
def url(app: FastAPI, world: World) -> Iterator[str]:
    yield from live_server(app)


@pytest.fixture
def job_id(world: World) -> str:
    """A job nobody runs: it stays pending, so its streams stay idle."""
    v = register_algorithm(world)
    ds = upload_dataset(world, world.a.h(), "rows", {"rows.csv": b"a,b\n1,2\n"})
    return str(submit(world, world.a.h(), job_body("idle", v["id"], ds))["id"])


def keepalive_then_end(
    url: str, headers: dict[str, str], revoke: Callable[[], None], timeout: float = 20.0
) -> list[str]:
    """Read until the first keep-alive, revoke the credential, read until the server ends the
    stream; returns every line. Fails when the stream outlives `timeout`."""
    lines: list[str] = []
    revoked = False
    deadline = time.monotonic() + timeout
    with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(5.0)) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            lines.append(line)
            assert time.monotonic() < deadline, f"stream still open after revoking: {lines}"
            if line == ": keep-alive" and not revoked:
                revoke()
                revoked = True
    assert revoked, f"the stream ended without a keep-alive: {lines}"
    return lines


def _token(world: World) -> tuple[dict[str, str], Callable[[], None]]:
    c = world.client
    tok = c.post("/api/v1/tokens", headers=world.a.h("member"), json={"name": "sse"}).json()

    def revoke() -> None:
        resp = c.delete(f"/api/v1/tokens/{tok['id']}", headers=world.a.h("member"))
        assert resp.status_code == 200, resp.text

    return auth(tok["token"]), revoke


def test_event_stream_keeps_alive_and_ends_on_revocation(url: str, world: World) -> None:
    headers, revoke = _token(world)
    lines = keepalive_then_end(f"{url}/api/v1/events/stream", headers, revoke)
    assert lines[0] == "retry: 3000"


@pytest.mark.parametrize("route", ["logs/stream", "events/stream"])
def test_job_streams_keep_alive_and_end_on_revocation(
    url: str, world: World, job_id: str, route: str
) -> None:
    headers, revoke = _token(world)
    lines = keepalive_then_end(f"{url}{JOBS}/{job_id}/{route}", headers, revoke)
    assert lines[0] == "retry: 3000"
    assert "event: end" not in lines  # cut by the revocation, not by the job ending


def test_portal_live_view_keeps_alive_and_ends_on_sign_out(
    url: str, world: World, job_id: str
) -> None:
    with httpx.Client(base_url=url, timeout=5.0) as browser:
        login = browser.post(
            "/api/v1/auth/login",
            json={"email": "tenant-admin@a.example.com", "password": PASSWORD},
        )
        assert login.status_code == 200, login.text
        csrf = login.json()["csrf_token"]
        cookie = {"cookie": f"forgeml_session={browser.cookies['forgeml_session']}"}

        def sign_out() -> None:
            resp = browser.post("/api/v1/auth/logout", headers={"x-csrf-token": csrf})
            assert resp.status_code == 204, resp.text

        lines = keepalive_then_end(f"{url}/jobs/{job_id}/live", cookie, sign_out)
    assert lines[0] == "retry: 3000"
    assert any(line == "event: status" for line in lines)  # the pending job's first status
    assert not any(line.startswith("event: end") for line in lines)

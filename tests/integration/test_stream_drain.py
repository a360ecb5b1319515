"""The drain seen by the API in-process: /readyz 503 and `Connection: close` while draining, and
every server-sent event stream ending with a reconnect hint once the drain closes.
"""

from __future__ import annotations

import pytest

from forgeml.edge.drain import Drain, reconnect_hint
from tests.support.jobs import JOBS, job_body, register_algorithm, submit, upload_dataset
from tests.support.world import World


def _drain(world: World) -> Drain:
    drain: Drain = world.client.app.state.drain  # type: ignore[attr-defined]
    return drain


def test_draining_turns_readyz_503_and_asks_clients_to_reconnect(world: World) -> None:
    assert world.client.get("/readyz").status_code == 200
    _drain(world).begin()
    ready = world.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["shutdown"] == "draining"
    served = world.client.get("/api/v1/me", headers=world.a.h())  # still served
    assert served.status_code == 200 and served.headers["connection"] == "close"


@pytest.mark.timeout(120)  # before the drain existed these streams never ended
def test_event_streams_end_with_a_reconnect_hint_when_the_drain_closes(world: World) -> None:
    v = register_algorithm(world)
    ds = upload_dataset(world, world.a.h(), "rows", {"rows.csv": b"a,b\n1,2\n"})
    job = submit(world, world.a.h(), job_body("streamed", v["id"], ds))
    _drain(world).close()
    for url in ("/api/v1/events/stream", f"{JOBS}/{job['id']}/events/stream"):
        with world.client.stream("GET", url, headers=world.a.h()) as resp:
            assert resp.status_code == 200
            body = "".join(resp.iter_text())
        assert body.startswith("retry: ") and body.endswith(reconnect_hint()), body

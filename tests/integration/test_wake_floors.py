"""The idle sleeps of the woken loops: the floor, unless something falls due sooner that no
NOTIFY marks (a retry's back-off ending); a stopping supervisor ends them at once."""

from __future__ import annotations

import threading
from datetime import timedelta

from forgeml.db import dispatch as dq
from forgeml.db.types import utcnow
from forgeml.domain.ids import new_id
from forgeml.domain.webhooks import DeliveryState
from forgeml.main import build_loops
from forgeml.services.container import Services
from forgeml.workers.base import Supervisor
from forgeml.workers.dispatcher import DispatcherLoop
from forgeml.workers.runner import RunnerLoop
from tests.integration.test_jobs_queue import job, tenant

FLOOR_S = 120.0


def test_an_idle_runner_sleeps_the_floor_unless_a_back_off_ends_sooner(
    services: Services,
) -> None:
    loop = RunnerLoop(services.job_runs, FLOOR_S)
    assert loop.until_due() == FLOOR_S  # nothing queued
    t = tenant(services.db, "t")
    job(services.db, t, "waiting", secondary_status="Interrupted")  # claimable now: no wait
    assert loop.until_due() == FLOOR_S
    soon = utcnow() + timedelta(seconds=30)
    job(services.db, t, "backing-off", secondary_status="Interrupted", not_before=soon)
    assert 0 < loop.until_due() <= 30.1


def test_an_idle_dispatcher_sleeps_until_its_next_retry_or_the_floor(
    services: Services,
) -> None:
    loop = DispatcherLoop(services, 0, FLOOR_S)
    assert loop.until_due() == FLOOR_S
    now = utcnow()
    row = {
        "id": new_id("eml"), "tenant_id": None, "event_id": "evt_x", "user_id": "usr_x",
        "to_address": "a@example.com", "subject": "s", "text_body": "t", "html_body": "h",
        "state": DeliveryState.PENDING.value, "attempts": 1, "window_start": now,
        "next_attempt_at": now + timedelta(seconds=30), "created_at": now,
    }  # fmt: skip
    with services.db.write() as conn:
        dq.insert_emails(conn, [row])
    assert 0 < loop.until_due() <= 30  # the retry's due time, not the floor


def test_stopping_the_supervisor_ends_the_floor_sleeps(services: Services) -> None:
    services.settings.worker.wake_floor_s = FLOOR_S
    loops = build_loops(services)
    assert all(loop.interval_s == FLOOR_S for loop in loops[:3])
    sup = Supervisor(loops)
    sup.start()
    stopped = threading.Event()
    try:
        for loop in loops[:3]:
            assert loop.wake is not None
        threading.Thread(target=lambda: (sup.stop(60), stopped.set()), daemon=True).start()
        assert stopped.wait(FLOOR_S / 2)  # a functional bound: far below the floor
        assert not any(t.is_alive() for t in sup.threads.values())
    finally:
        sup.stop(5)
        services.job_runs.shutdown(10)

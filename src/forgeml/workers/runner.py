"""The runner loop: claims training jobs that fit this node and runs them (see services/job_runner).

Registered in `main.build_loops`; one per `forgeml up` / `forgeml worker` process.
"""

from __future__ import annotations

import threading

from forgeml.db import job_queries as q
from forgeml.db.types import utcnow
from forgeml.domain.errors import Unavailable
from forgeml.services.jobs.runner import JobRunService
from forgeml.workers.base import FLOOR_S, Loop


class RunnerLoop(Loop):
    """Idle, it sleeps on the job service's `wake` event: set by a NOTIFY on `wakeups.JOBS`
    (a job became claimable or a slot freed, any process), a local submit, or shutdown; or
    until a retry's back-off ends; or for the floor `interval_s`."""

    name = "runner"

    def __init__(self, service: JobRunService, floor_s: float = FLOOR_S) -> None:
        self.service = service
        self.wake = service.wake
        self.interval_s = floor_s

    def tick(self) -> bool:
        return self.service.tick()

    def idle(self, stop: threading.Event) -> None:
        self.service.wake.wait(self.until_due())

    def until_due(self) -> float:
        """The floor, or less when a retried job becomes claimable sooner."""
        now = utcnow()
        try:
            with self.service.db.read() as conn:
                at = q.next_not_before(conn, now)
        except Unavailable:  # the next tick meets the outage and backs off
            return self.interval_s
        soon = (at - now).total_seconds() + 0.01 if at is not None else self.interval_s
        return max(0.01, min(self.interval_s, soon))

    def run(self, stop: threading.Event) -> None:
        # No registration up front: the first tick registers, so a database that is down when
        # the worker starts is retried with back-off like any other tick, never fatal.
        try:
            self.iterate(stop)
        finally:
            self.service.shutdown()

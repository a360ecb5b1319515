"""The runner loop: claims training jobs that fit this node and runs them (see services/job_runner).

Registered in `main.build_loops`; one per `forgeml up` / `forgeml worker` process.
"""

from __future__ import annotations

import threading

from forgeml.services.jobs.runner import JobRunService
from forgeml.workers.base import Loop


class RunnerLoop(Loop):
    """Idle, it sleeps on the job service's `wake` event: set by a NOTIFY on `wakeups.JOBS`
    (a job became claimable or a slot freed, any process), a local submit, or shutdown."""

    name = "runner"

    def __init__(self, service: JobRunService, floor_s: float = 5.0) -> None:
        self.service = service
        self.wake = service.wake
        self.interval_s = floor_s

    def tick(self) -> bool:
        return self.service.tick()

    def run(self, stop: threading.Event) -> None:
        # No registration up front: the first tick registers, so a database that is down when
        # the worker starts is retried with back-off like any other tick, never fatal.
        try:
            self.iterate(stop)
        finally:
            self.service.shutdown()

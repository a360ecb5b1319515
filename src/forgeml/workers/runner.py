"""The runner loop: claims training jobs that fit this node and runs them (see services/job_runner).

Registered in `main.build_loops`; one per `forgeml up` / `forgeml worker` process.
"""

from __future__ import annotations

import threading

from forgeml.services.jobs.runner import JobRunService
from forgeml.workers.base import Loop


class RunnerLoop(Loop):
    name = "runner"
    interval_s = 0.2  # idle poll for jobs submitted elsewhere; local submits wake it at once

    def __init__(self, service: JobRunService) -> None:
        self.service = service

    def tick(self) -> bool:
        return self.service.tick()

    def run(self, stop: threading.Event) -> None:
        # No registration up front: the first tick registers, so a database that is down when
        # the worker starts is retried with back-off like any other tick, never fatal.
        try:
            self.iterate(stop)
        finally:
            self.service.shutdown()

    def idle(self, stop: threading.Event) -> None:
        # Woken by a submit in this process, by shutdown, or after the idle poll (jobs
        # submitted through another process's API).
        self.service.wake.wait(self.interval_s)

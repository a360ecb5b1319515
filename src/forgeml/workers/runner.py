"""The runner loop: claims training jobs that fit this node and runs them (see services/job_runner).

Registered in `main.build_loops`; one per `forgeml up` / `forgeml worker` process.
"""

from __future__ import annotations

import threading

import structlog

from forgeml.domain import retry
from forgeml.services.jobs.runner import JobRunService
from forgeml.workers.base import Loop

log = structlog.get_logger("forgeml.workers")


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
        failures = 0
        try:
            while not stop.is_set():
                self.beat()
                try:
                    busy = self.tick()
                    failures = 0
                except Exception:
                    failures += 1
                    wait = max(self.interval_s, retry.delay(failures))
                    log.exception("loop tick failed", loop=self.name, retry_in_s=round(wait, 2))
                    stop.wait(wait)
                    continue
                if not busy:
                    # Woken by a submit in this process, by shutdown, or after the idle poll
                    # (jobs submitted through another process's API).
                    self.service.wake.wait(self.interval_s)
        finally:
            self.service.shutdown()

"""Long-running background loops: a small base class and a thread supervisor.

Each loop does one unit of work per `tick()`; the supervisor runs loops in threads, restarts a
tick that raised after a back-off, and stops them all when asked (SIGTERM, Ctrl-C).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import structlog

log = structlog.get_logger("forgeml.workers")


class Loop:
    """Override `tick()`; return True when work was done (then the next tick runs at once)."""

    name = "loop"
    interval_s = 1.0

    def tick(self) -> bool:
        raise NotImplementedError

    def run(self, stop: threading.Event) -> None:
        log.info("loop started", loop=self.name)
        backoff = self.interval_s
        while not stop.is_set():
            try:
                busy = self.tick()
                backoff = self.interval_s
            except Exception:
                log.exception("loop tick failed", loop=self.name)
                busy = False
                backoff = min(backoff * 2, 30.0)
            if not busy:
                stop.wait(backoff)
        log.info("loop stopped", loop=self.name)


class Supervisor:
    def __init__(self, loops: Sequence[Loop]) -> None:
        self.loops = list(loops)
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for loop in self.loops:
            t = threading.Thread(
                target=loop.run, args=(self.stop_event,), name=f"forgeml-{loop.name}", daemon=True
            )
            t.start()
            self.threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout)


class IdleRunner(Loop):
    """Placeholder runner until training jobs land: heartbeats into the log and does nothing."""

    name = "runner"
    interval_s = 5.0

    def tick(self) -> bool:
        return False

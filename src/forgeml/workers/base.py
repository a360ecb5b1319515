"""Long-running background loops: a small base class and a thread supervisor.

A tick that raised is retried after a jittered back-off; a loop thread that died anyway is
restarted by the supervisor, and one that keeps dying takes the process down (non-zero exit).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from forgeml.config import WorkerSettings
from forgeml.domain import retry

log = structlog.get_logger("forgeml.workers")
# Loops built without settings (tests, benches) sleep the setting's default floor.
FLOOR_S: float = WorkerSettings.model_fields["wake_floor_s"].default


class Loop:
    """Override `tick()`; return True when work was done (then the next tick runs at once).

    A loop with a `wake` event sleeps on it instead of `stop` between idle ticks: a wake-up
    (`db/wakeups.py`) or the supervisor's stop ends the sleep, `interval_s` is its floor.
    """

    name = "loop"
    interval_s = 1.0
    wake: threading.Event | None = None

    def tick(self) -> bool:
        raise NotImplementedError

    last_beat = 0.0  # time.monotonic() of the last iteration: the loop's heartbeat

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def run(self, stop: threading.Event) -> None:
        log.info("loop started", loop=self.name)
        self.iterate(stop)
        log.info("loop stopped", loop=self.name)

    def iterate(self, stop: threading.Event) -> None:
        """Tick until `stop` is set: at once again when busy, after `idle()` when not, backing
        off (jittered, growing) after a tick that raised."""
        failures = 0
        while not stop.is_set():
            self.beat()
            if self.wake is not None:
                self.wake.clear()  # before the tick reads: a wake-up during it is kept
            try:
                busy = self.tick()
                failures = 0
            except Exception:
                failures += 1
                wait = max(self.interval_s, retry.delay(failures))
                log.exception("loop tick failed", loop=self.name, retry_in_s=round(wait, 2))
                stop.wait(wait)
                continue
            # Checked after the tick: a stop that came while it ran may have had its wake-up
            # cleared by it (the stop is set before the wake-ups, so it is seen here).
            if not busy and not stop.is_set():
                self.idle(stop)

    def idle(self, stop: threading.Event) -> None:
        """Wait between ticks that found nothing to do."""
        (self.wake or stop).wait(self.interval_s)


# A loop restarted this many times within RESTART_WINDOW_S takes the process down instead.
MAX_RESTARTS = 5
RESTART_WINDOW_S = 300.0


class Supervisor:
    """Runs each loop in a thread, restarts a dead one, and calls `on_fatal` when that fails."""

    def __init__(
        self, loops: Sequence[Loop], on_fatal: Callable[[str], None] | None = None
    ) -> None:
        self.loops = list(loops)
        self.on_fatal = on_fatal
        self.stop_event = threading.Event()
        self.threads: dict[str, threading.Thread] = {}
        self.restarts: dict[str, list[float]] = {loop.name: [] for loop in self.loops}
        self.fatal: str | None = None

    def start(self) -> None:
        for loop in self.loops:
            self._spawn(loop)
        threading.Thread(target=self._watch, name="forgeml-watchdog", daemon=True).start()

    def _spawn(self, loop: Loop) -> None:
        t = threading.Thread(
            target=self._guarded, args=(loop,), name=f"forgeml-{loop.name}", daemon=True
        )
        self.threads[loop.name] = t
        t.start()

    def _guarded(self, loop: Loop) -> None:
        try:
            loop.run(self.stop_event)
        except BaseException:
            log.exception("loop died", loop=loop.name)

    def _watch(self, every_s: float = 1.0) -> None:
        while not self.stop_event.wait(every_s):
            for loop in self.loops:
                if self.threads[loop.name].is_alive() or self.stop_event.is_set():
                    continue
                now = time.monotonic()
                recent = [t for t in self.restarts[loop.name] if now - t < RESTART_WINDOW_S]
                if len(recent) >= MAX_RESTARTS:
                    self._die(loop.name)
                    return
                self.restarts[loop.name] = [*recent, now]
                log.error("restarting dead loop", loop=loop.name, restarts=len(recent) + 1)
                self._spawn(loop)

    def _die(self, name: str) -> None:
        self.fatal = name
        log.critical("loop keeps dying; stopping the process", loop=name)
        if self.on_fatal is not None:
            self.on_fatal(name)

    def health(self) -> dict[str, Any]:
        """Per loop: alive, restarts in the window, seconds since its last heartbeat."""
        now = time.monotonic()
        return {
            loop.name: {
                "alive": self.threads.get(loop.name) is not None
                and self.threads[loop.name].is_alive(),
                "restarts": len(self.restarts[loop.name]),
                "beat_age_s": round(now - loop.last_beat, 1) if loop.last_beat else None,
            }
            for loop in self.loops
        }

    def dead(self) -> list[str]:
        return [name for name, h in self.health().items() if not h["alive"]]

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for loop in self.loops:
            if loop.wake is not None:
                loop.wake.set()  # a loop asleep until its floor ends now
        for t in self.threads.values():
            t.join(timeout)


class IdleRunner(Loop):
    """Placeholder runner until training jobs land: heartbeats into the log and does nothing."""

    name = "runner"
    interval_s = 5.0

    def tick(self) -> bool:
        return False

"""Background loops survive transient errors; a dead loop is restarted, and one that keeps dying
takes the process down through `on_fatal` (real threads, no mocks of the supervisor)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from forgeml.domain.errors import Unavailable
from forgeml.workers import base
from forgeml.workers.base import Loop, Supervisor


def eventually(pred: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


class Flaky(Loop):
    """Its first ticks fail like a database that is down when the worker starts."""

    name = "flaky"
    interval_s = 0.01

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.ticks = 0

    def tick(self) -> bool:
        if self.failures > 0:
            self.failures -= 1
            raise Unavailable("database unavailable")
        self.ticks += 1
        return False


class DiesOnStart(Loop):
    """Its thread dies outright (an error outside any tick), `deaths` times."""

    name = "dies"
    interval_s = 0.01

    def __init__(self, deaths: int) -> None:
        self.deaths = deaths
        self.ticks = 0

    def run(self, stop: threading.Event) -> None:
        if self.deaths > 0:
            self.deaths -= 1
            raise RuntimeError("setup failed")
        super().run(stop)

    def tick(self) -> bool:
        self.ticks += 1
        return False


def test_a_tick_that_fails_is_retried_and_the_loop_keeps_going() -> None:
    loop = Flaky(failures=3)
    sup = Supervisor([loop])
    sup.start()
    try:
        assert eventually(lambda: loop.ticks > 0)
        assert sup.dead() == [] and sup.health()["flaky"]["restarts"] == 0
    finally:
        sup.stop()


def test_a_dead_loop_is_restarted_and_shown_dead_until_then() -> None:
    loop = DiesOnStart(deaths=1)
    sup = Supervisor([loop])
    sup.start()
    try:
        assert eventually(lambda: loop.ticks > 0)
        health = sup.health()["dies"]
        assert health["alive"] and health["restarts"] == 1
        assert sup.fatal is None
    finally:
        sup.stop()


def test_a_loop_that_keeps_dying_calls_on_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "MAX_RESTARTS", 2)
    fatal: list[str] = []
    loop = DiesOnStart(deaths=100)
    sup = Supervisor([loop], on_fatal=fatal.append)
    sup.start()
    try:
        assert eventually(lambda: fatal == ["dies"])
        assert sup.fatal == "dies" and sup.dead() == ["dies"]
        assert loop.ticks == 0
    finally:
        sup.stop()

"""The notification dispatcher as a worker loop: fan-out, webhook deliveries and e-mails.

Several loops (threads, processes, hosts) may run at once; claims and the fan-out cursor are
coordinated in the database, so each `webhooks.concurrency` loop is just another dispatcher.
"""

from __future__ import annotations

import threading

from forgeml.config import NotifySettings
from forgeml.db import dispatch as dq
from forgeml.db import webhooks as wq
from forgeml.db.types import utcnow
from forgeml.domain.errors import Unavailable
from forgeml.services.container import Services
from forgeml.services.notify.dispatch import Dispatcher
from forgeml.workers.base import FLOOR_S, Loop


class DispatcherLoop(Loop):
    """Idle, it sleeps until an event, delivery or e-mail is notified (`wakeups.EVENTS`), the
    next retry falls due, or the polling floor passes."""

    name = "dispatcher"

    def __init__(self, services: Services, index: int = 0, floor_s: float = FLOOR_S) -> None:
        self.db = services.db
        self.dispatcher = Dispatcher(services.db, NotifySettings.of(services.settings))
        # Rows due but not claimable (a disabled webhook's) are looked at no more often than this.
        self.min_wait_s = min(services.settings.webhooks.poll_interval_s, floor_s)
        self.interval_s = floor_s
        self.wake = threading.Event()
        self.name = f"dispatcher-{index}"

    def tick(self) -> bool:
        return self.dispatcher.run_once()

    def idle(self, stop: threading.Event) -> None:
        assert self.wake is not None
        self.wake.wait(self.until_due())

    def until_due(self) -> float:
        """Seconds until the next retry is due, between `min_wait_s` and the floor."""
        try:
            with self.db.read() as conn:
                due = [
                    dq.next_due_at(conn, wq.deliveries, wq.deliverable()),
                    dq.next_due_at(conn, dq.email_outbox, []),
                ]
        except Unavailable:  # the next tick meets the outage and backs off
            return self.interval_s
        now = utcnow()
        waits = [(at - now).total_seconds() for at in due if at is not None]
        return max(self.min_wait_s, min([self.interval_s, *waits]))

    def run(self, stop: threading.Event) -> None:
        try:
            super().run(stop)
        finally:
            self.dispatcher.close()


def dispatcher_loops(services: Services, floor_s: float = FLOOR_S) -> list[Loop]:
    n = services.settings.webhooks.concurrency
    return [DispatcherLoop(services, i, floor_s) for i in range(n)]

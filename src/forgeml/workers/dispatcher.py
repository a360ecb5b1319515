"""The notification dispatcher as a worker loop: fan-out, webhook deliveries and e-mails.

Several loops (threads, processes, hosts) may run at once; claims and the fan-out cursor are
coordinated in the database, so each `webhooks.concurrency` loop is just another dispatcher.
"""

from __future__ import annotations

import threading

from forgeml.config import NotifySettings
from forgeml.services.container import Services
from forgeml.services.notify.dispatch import Dispatcher
from forgeml.workers.base import Loop


class DispatcherLoop(Loop):
    name = "dispatcher"

    def __init__(self, services: Services, index: int = 0) -> None:
        self.dispatcher = Dispatcher(services.db, NotifySettings.of(services.settings))
        self.interval_s = services.settings.webhooks.poll_interval_s
        self.name = f"dispatcher-{index}"

    def tick(self) -> bool:
        return self.dispatcher.run_once()

    def run(self, stop: threading.Event) -> None:
        try:
            super().run(stop)
        finally:
            self.dispatcher.close()


def dispatcher_loops(services: Services) -> list[Loop]:
    return [DispatcherLoop(services, i) for i in range(services.settings.webhooks.concurrency)]

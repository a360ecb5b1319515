"""The worker loop that garbage-collects expired and aborted dataset upload sessions."""

from __future__ import annotations

from forgeml.services.container import Services
from forgeml.services.dataset_gc import collect_garbage
from forgeml.workers.base import Loop


class DatasetGcLoop(Loop):
    """Runs `collect_garbage` once a minute, at once again while there is a backlog."""

    name = "dataset-gc"
    interval_s = 60.0

    def __init__(self, services: Services) -> None:
        self.services = services

    def tick(self) -> bool:
        return collect_garbage(self.services.db, self.services.store).busy

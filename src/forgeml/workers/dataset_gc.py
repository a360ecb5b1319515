"""Worker loops that collect garbage: dead dataset upload sessions, and what crashes left in the
object store (temp files, orphaned multipart uploads)."""

from __future__ import annotations

from forgeml.services.container import Services
from forgeml.services.datasets.gc import collect_garbage
from forgeml.services.datasets.store_sweep import sweep_store
from forgeml.workers.base import Loop


class _ServicesLoop(Loop):
    def __init__(self, services: Services) -> None:
        self.services = services


class DatasetGcLoop(_ServicesLoop):
    """Runs `collect_garbage` once a minute, at once again while there is a backlog."""

    name = "dataset-gc"
    interval_s = 60.0

    def tick(self) -> bool:
        return collect_garbage(self.services.db, self.services.store).busy


class StoreSweepLoop(_ServicesLoop):
    """Runs `sweep_store` every ten minutes with the `store_sweep_after_s` age."""

    name = "store-sweep"
    interval_s = 600.0

    def tick(self) -> bool:
        s = self.services
        sweep_store(s.db, s.store, s.settings.store_sweep_after_s)
        return False  # one pass removes everything that old; the next can wait

"""The algorithm environment builder: claims versions in status `building` and builds them.

Several may run (one per worker process or node): the claim is one atomic UPDATE, and the
per-digest file lock of the environment cache keeps two builders on one host from colliding.
"""

from __future__ import annotations

import os
import socket

from forgeml.services.algorithm_envs import AlgorithmEnvironments
from forgeml.workers.base import Loop


class AlgorithmBuilder(Loop):
    """One version per tick; an idle tick waits `interval_s`."""

    name = "algorithm-builder"
    interval_s = 2.0

    def __init__(self, envs: AlgorithmEnvironments, worker_id: str | None = None) -> None:
        self.envs = envs
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    def tick(self) -> bool:
        return self.envs.build_next(self.worker_id)

"""The algorithm environment builder: claims versions in status `building` and builds them.

Several may run (one per worker process or node): the claim is one atomic UPDATE, and the
per-digest file lock of the environment cache keeps two builders on one host from colliding.
"""

from __future__ import annotations

import os
import socket
import threading

from forgeml.services.algorithms.envs import AlgorithmEnvironments
from forgeml.workers.base import FLOOR_S, Loop


def holder_is_gone(holder: str) -> bool:
    """Whether a claim's holder (`host:pid:id`) was a process of this host that no longer runs.

    Holders on other hosts are never judged from here: their claims go stale on their own.
    """
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, as another user
        return False
    return False


class AlgorithmBuilder(Loop):
    """One version per tick; idle, it sleeps until a build is notified (`wakeups.BUILDS`) or for
    `interval_s`, the polling floor.

    The first tick takes back builds a stopped server of this host left claimed, so a restart
    resumes them at once instead of after the stale-claim timeout.
    """

    name = "algorithm-builder"

    def __init__(
        self, envs: AlgorithmEnvironments, worker_id: str | None = None, floor_s: float = FLOOR_S
    ) -> None:
        self.envs = envs
        self.wake = threading.Event()
        self.interval_s = floor_s
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._recovered = False

    def tick(self) -> bool:
        if not self._recovered:
            self.envs.recover_builds(holder_is_gone)
            self._recovered = True
        return self.envs.build_next(self.worker_id)

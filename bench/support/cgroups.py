"""The bench's own cgroup for a direct run (what a class of N CPUs pays for: N CPUs' worth of
scheduler weight, written here, not by the platform's code) and busy neighbours to compete with.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
BUSY = "while True: pass"


def _own(controller: str) -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return path.lstrip("/")
    return ""


@contextmanager
def class_cgroup(cpus: int) -> Iterator[tuple[str, Callable[[], None] | None]]:
    """A sibling of the platform's job cgroups with one default weight per CPU of the class.

    Yields (description, preexec_fn joining it); (reason, None) when cgroups are not writable.
    """
    v2 = (ROOT / "cgroup.controllers").exists()
    base = ROOT / _own("") if v2 else ROOT / "cpu" / _own("cpu")
    path = base / f"bench-direct-{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir()
        name, value = ("cpu.weight", 100 * cpus) if v2 else ("cpu.shares", 1024 * cpus)
        (path / name).write_text(str(value))
    except OSError as exc:
        yield f"no cgroup ({exc.strerror})", None
        return

    def join() -> None:
        (path / "cgroup.procs").write_text(str(os.getpid()))

    try:
        yield f"{'v2' if v2 else 'v1'} {name}={value}", join
    finally:
        with contextlib.suppress(OSError):
            path.rmdir()


@contextmanager
def neighbours(n: int) -> Iterator[None]:
    """`n` single-threaded busy loops at the default weight: the contention a job shares with."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()

"""Find and signal every process of one host run, from /proc (no psutil).

A run's processes are its process group (plain runs), its pid namespace (bwrap runs), and its
cgroup when one exists; `ProcessTree` hides which, so the launcher can say "stop all of it".
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from forgeml.training.limits import Cgroup

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may contain spaces)."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()


def is_running(pid: int) -> bool:
    """True for a live process; zombies (exited, not yet reaped) do not count."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in {"Z", "X"}


def all_pids() -> list[int]:
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]


def pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(PROC / str(pid) / "ns" / "pid")
    except OSError:
        return None


def pids_in_namespace(namespace: str) -> list[int]:
    """Processes (as seen from here) whose pid namespace is `namespace`, zombies excluded."""
    return [p for p in all_pids() if pid_namespace(p) == namespace and is_running(p)]


def pids_in_group(pgid: int) -> list[int]:
    found = []
    for pid in all_pids():
        fields = _stat_fields(pid)
        # stat fields after the name: state, ppid, pgrp, session, ...
        if fields is not None and int(fields[2]) == pgid and fields[0] not in {"Z", "X"}:
            found.append(pid)
    return found


def send(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


@dataclass
class ProcessTree:
    """All processes of one run. `leader` is the pid Popen started (bwrap or the program)."""

    leader: int
    cgroup: Cgroup | None = None
    # Set for bwrap runs: the sandbox's pid-1 (bwrap's init) and its namespace id.
    sandbox_init: int | None = None
    namespace: str | None = None

    def members(self) -> list[int]:
        pids = set(pids_in_group(self.leader))
        if self.namespace is not None:
            pids |= set(pids_in_namespace(self.namespace))
        if self.cgroup is not None:
            pids |= {p for p in self.cgroup.pids() if is_running(p)}
        return sorted(pids)

    def terminate(self) -> None:
        """SIGTERM to every process of the run, so the program can save its work."""
        targets = [p for p in self.members() if p not in {self.sandbox_init, self.leader}]
        if self.namespace is None:
            # A plain run's leader is the program itself: it must get the SIGTERM too.
            targets.append(self.leader)
        send(targets, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL everything. Killing a pid namespace's init makes the kernel kill the rest."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.leader, signal.SIGKILL)
        extra = [self.sandbox_init] if self.sandbox_init is not None else []
        send([*extra, *self.members()], signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def wait_gone(self, timeout_s: float) -> bool:
        """Poll until no process of the run is left (killing again each round); True on success."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            left = [p for p in self.members() if p != self.leader or is_running(p)]
            if not left:
                return True
            send(left, signal.SIGKILL)
            time.sleep(0.02)
        return not self.members()

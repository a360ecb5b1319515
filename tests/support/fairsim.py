"""A fake clock and a fake executor around the real scheduler: real claims on a real database,
jobs that "run" for a set time on the fake clock and then complete through the real transitions.

Shared by tests/integration/test_fair_share.py and bench/fairness.py.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

from forgeml.db.engine import Database
from forgeml.db.tables import tenants
from forgeml.db.types import utcnow
from forgeml.domain.ids import new_id
from forgeml.domain.job_model import Lease, Runner
from forgeml.domain.jobs import Secondary
from forgeml.queue import claims, transitions
from tests.support.threads import CheckedThread, run_all

# The modules that read the clock on the claim and transition path.
_CLOCK_USERS = ("forgeml.queue.claims.utcnow", "forgeml.queue.transitions.utcnow")


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utcnow().replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@contextmanager
def fake_clock(clock: FakeClock) -> Iterator[FakeClock]:
    with mock.patch(_CLOCK_USERS[0], clock), mock.patch(_CLOCK_USERS[1], clock):
        yield clock


def add_tenant(db: Database, name: str, weight: float = 1.0) -> str:
    tid = new_id("tnt")
    now = utcnow()
    with db.write() as conn:
        conn.execute(
            tenants.insert().values(
                id=tid, name=name, display_name=name, status="active", weight=weight,
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
    return tid


def job_values(tenant_id: str, name: str, now: datetime, **over: Any) -> dict[str, Any]:
    """A queued job's row, as the submit service would write it (status aside)."""
    return {
        "id": new_id("job"), "tenant_id": tenant_id, "name": name,
        "algorithm_version_id": "alv_x", "algorithm_name": "x", "algorithm_version": "1.0.0",
        "algorithm_digest": "sha256:0", "hyperparameters": {}, "inputs": {},
        "resource_class": "cpu.small", "instance_count": 1, "volume_gb": 1,
        "max_runtime_s": 3600, "max_attempts": 2, "checkpointing": False, "preemptible": False,
        "network": False, "environment": {}, "tags": {}, "attempt": 0, "gpu_indices": [],
        "final_metrics": {}, "artifacts": {}, "created_at": now, "updated_at": now, **over,
    }  # fmt: skip


def claim_all(db: Database, runners: list[Runner]) -> list[str]:
    """One thread per runner claiming until nothing is left; every job id handed out."""
    got: list[str] = []
    lock = threading.Lock()

    def claimer(r: Runner) -> None:
        while True:
            with db.write() as conn:
                lease = claims.claim(conn, r, 30)
            if lease is None:
                return
            with lock:
                got.append(lease.job_id)

    run_all([CheckedThread(target=claimer, args=(r,)) for r in runners])
    return got


@dataclass
class Start:
    at: float  # fake seconds since the simulation began
    tenant_id: str
    job_id: str
    seconds: float  # how long it runs


@dataclass
class Sim:
    """Claims on one runner until it is full, then completes the job that ends first."""

    db: Database
    clock: FakeClock
    runner: Runner
    duration: Any  # job id -> seconds it runs
    began: datetime = field(init=False)
    starts: list[Start] = field(default_factory=list)
    # tenant -> (fake seconds, starts so far) at its first submission
    submitted: dict[str, tuple[float, int]] = field(default_factory=dict)
    _running: list[tuple[float, str, Lease]] = field(default_factory=list)
    _count: int = 0

    def __post_init__(self) -> None:
        self.began = self.clock.now

    @property
    def t(self) -> float:
        return (self.clock.now - self.began).total_seconds()

    def submit(self, tenant_id: str, n: int) -> None:
        self.submitted.setdefault(tenant_id, (self.t, len(self.starts)))
        with self.db.write() as conn:
            for _ in range(n):
                self._count += 1
                values = job_values(tenant_id, f"j{self._count}", self.clock.now)
                transitions.create(conn, values)

    def fill(self) -> int:
        """Claim until nothing fits; the number claimed."""
        got = 0
        while True:
            with self.db.write() as conn:
                lease = claims.claim(conn, self.runner, 3600)
            if lease is None:
                return got
            seconds = float(self.duration(lease.job_id))
            self.starts.append(Start(self.t, lease.tenant_id, lease.job_id, seconds))
            heapq.heappush(self._running, (self.t + seconds, lease.job_id, lease))
            got += 1

    def next_end(self) -> float | None:
        return self._running[0][0] if self._running else None

    def finish_next(self) -> None:
        """Advance the clock to the first end and complete every job ending then."""
        end = self._running[0][0]
        self.clock.advance(end - self.t)
        while self._running and self._running[0][0] <= self.t:
            _, _, lease = heapq.heappop(self._running)
            with self.db.write() as conn:
                for target in (Secondary.DOWNLOADING, Secondary.TRAINING, Secondary.UPLOADING):
                    transitions.move_or_raise(conn, lease.job_id, target, "sim", lease=lease)
                transitions.move_or_raise(
                    conn, lease.job_id, Secondary.COMPLETED, "sim", lease=lease,
                    attempt_outcome=("Completed", True),
                )  # fmt: skip

    def run_until(self, t: float) -> None:
        """Claim and complete until the fake clock reaches `t` (or nothing runs)."""
        while True:
            self.fill()
            end = self.next_end()
            if end is None or end > t:
                self.clock.advance(max(0.0, t - self.t))
                return
            self.finish_next()

    def shares(self, since: float, until: float) -> dict[str, float]:
        """Each tenant's fraction of the capacity used between `since` and `until`."""
        used: dict[str, float] = {}
        for s in self.starts:
            overlap = min(until, s.at + s.seconds) - max(since, s.at)
            if overlap > 0:
                used[s.tenant_id] = used.get(s.tenant_id, 0.0) + overlap
        total = sum(used.values()) or 1.0
        return {k: v / total for k, v in used.items()}

    def first_start(self, tenant_id: str) -> tuple[float, int]:
        """(fake seconds from the tenant's first submission to its first start, starts of
        other jobs in between)."""
        sub, before = self.submitted[tenant_id]
        index = next(i for i, s in enumerate(self.starts) if s.tenant_id == tenant_id)
        return self.starts[index].at - sub, index - before

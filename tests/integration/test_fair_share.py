"""Fair share on SQLite and PostgreSQL: the real claim on a fake clock (tests/support/fairsim.py).
A flood from one tenant does not delay another's first job beyond the next free slot; weights
hold over many claims; concurrent claimers never start a job twice; pending reasons are written
only when they change.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from forgeml.db.engine import Database
from forgeml.db.shares import tenant_shares
from forgeml.domain.job_model import Runner
from forgeml.queue import claims, pending
from tests.support.fairsim import FakeClock, Sim, add_tenant, claim_all, fake_clock


def runner(db: Database, slots: int, name: str = "r1") -> Runner:
    """A runner with room for `slots` cpu.small jobs (2 CPUs, 4 GiB each)."""
    with db.write() as conn:
        return claims.register_runner(
            conn, name=name, executor="local", cpus=2 * slots, memory_bytes=4 * 1024**3 * slots,
            gpu_indices=[],
        )  # fmt: skip


def test_a_flood_does_not_delay_another_tenants_first_job_beyond_the_next_slot(
    database: Database,
) -> None:
    a, b = add_tenant(database, "a"), add_tenant(database, "b")
    with fake_clock(FakeClock()) as clock:
        sim = Sim(database, clock, runner(database, 4), lambda _: 60)
        sim.submit(a, 150)
        sim.run_until(90)  # a holds every slot; the next ones free at t = 120
        sim.submit(b, 3)
        sim.run_until(200)
    wait, others_first = sim.first_start(b)
    assert (wait, others_first) == (30.0, 0)  # b's job is the first to start after it came
    assert sum(1 for s in sim.starts if s.tenant_id == b) == 3  # and b stays below its share


def test_weights_are_respected_over_many_claims(database: Database) -> None:
    ids = {n: add_tenant(database, n, w) for n, w in (("a", 2.0), ("b", 1.0), ("c", 1.0))}
    durations = [40, 60, 75, 90, 55]  # uneven, so slots free at different times
    with fake_clock(FakeClock()) as clock:
        sim = Sim(database, clock, runner(database, 8), lambda j: durations[sum(map(ord, j)) % 5])
        for tid in ids.values():
            sim.submit(tid, 200)
        sim.run_until(3000)
    shares = sim.shares(0, 3000)
    for name, weight in (("a", 0.5), ("b", 0.25), ("c", 0.25)):
        assert abs(shares[ids[name]] - weight) <= 0.1 * weight, (name, shares)


def test_concurrent_claimers_never_start_a_job_twice_across_tenants(database: Database) -> None:
    tenants = [add_tenant(database, f"t{i}", 1.0 + i % 2) for i in range(5)]
    with fake_clock(FakeClock()) as clock:
        sim = Sim(database, clock, runner(database, 1, "seed"), lambda _: 1)
        for tid in tenants:
            sim.submit(tid, 8)
    runners = [runner(database, 4, f"r{i}") for i in range(6)]
    got = claim_all(database, runners)
    assert len(got) == len(set(got)) == 24  # 6 runners x 4 slots, each job once
    with database.read() as conn:
        rows = conn.execute(sa.select(tenant_shares.c.rate)).all()
    assert sum(r for (r,) in rows) == pytest.approx(24 / 25)  # 24 of 25 slots busy


def _count_updates(database: Database) -> tuple[list[str], Any]:
    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE TRAINING_JOBS"):
            seen.append(statement)

    return seen, listener


def test_pending_reasons_are_written_only_when_they_change(database: Database) -> None:
    a = add_tenant(database, "a")
    with fake_clock(FakeClock()) as clock:
        sim = Sim(database, clock, runner(database, 1), lambda _: 60)
        sim.submit(a, 30)
    seen, listener = _count_updates(database)
    sa.event.listen(database.engine, "before_cursor_execute", listener)
    try:
        with database.write() as conn:
            first = pending.refresh(conn, clock.now, 3600)
        writes_first = len(seen)
        with database.write() as conn:
            again = pending.refresh(conn, clock.now, 3600)
        writes_again = len(seen) - writes_first
        with database.write() as conn:
            capped = pending.refresh(conn, clock.now, 3600, limit=0)
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", listener)
    assert (first, again, capped) == (30, 0, 0)  # every row once, then none changed
    assert writes_first == 1  # one UPDATE for the whole (class, size) group
    assert writes_again == 0  # the read, compared in SQL, found no row to write

"""The durable queue on SQLite and PostgreSQL: atomic claims, capacity and GPUs, fair order,
leases, expiry → retry or fail, and fencing of a runner that lost its lease.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from forgeml.db import job_queries as q
from forgeml.db.engine import Database
from forgeml.db.jobs import job_logs, training_jobs
from forgeml.db.scope import Scope
from forgeml.db.tables import tenants
from forgeml.db.types import utcnow
from forgeml.domain.ids import new_id
from forgeml.domain.job_model import Runner
from forgeml.domain.jobs import Secondary
from forgeml.domain.retry import Requeue
from forgeml.queue import claims
from forgeml.queue.transitions import LeaseLost, fence, move, move_or_raise, record_transition
from forgeml.services.jobs.log_sink import LogSink
from forgeml.training.spec import LogLine
from tests.support.threads import CheckedThread, run_all


def tenant(db: Database, name: str) -> str:
    tid = new_id("tnt")
    now = utcnow()
    with db.write() as conn:
        conn.execute(
            tenants.insert().values(
                id=tid,
                name=name,
                display_name=name,
                status="active",
                created_at=now,
                updated_at=now,
            )
        )
    return tid


def job(db: Database, tenant_id: str, name: str, **over: Any) -> str:
    now = utcnow()
    values: dict[str, Any] = {
        "id": new_id("job"), "tenant_id": tenant_id, "name": name, "status": "InProgress",
        "secondary_status": "Pending", "algorithm_version_id": "alv_x", "algorithm_name": "x",
        "algorithm_version": "1.0.0", "algorithm_digest": "sha256:0", "hyperparameters": {},
        "inputs": {}, "resource_class": "cpu.small", "instance_count": 1, "volume_gb": 1,
        "max_runtime_s": 60, "max_attempts": 2, "checkpointing": False, "preemptible": False,
        "network": False, "environment": {}, "tags": {}, "attempt": 0, "gpu_indices": [],
        "final_metrics": {}, "artifacts": {}, "created_at": now, "updated_at": now,
        **over,
    }  # fmt: skip
    values["pending_reason"] = f"waiting for capacity in class {values['resource_class']}"
    with db.write() as conn:
        j = q.insert_job(conn, values)
        record_transition(conn, j, Secondary.PENDING, "queued", now)
    return str(values["id"])


def runner(db: Database, name: str = "r1", cpus: int = 64, gpus: list[int] | None = None) -> Runner:
    with db.write() as conn:
        return claims.register_runner(
            conn, name=name, executor="local", cpus=cpus, memory_bytes=512 * 1024**3,
            gpu_indices=gpus or [],
        )  # fmt: skip


def get(db: Database, job_id: str) -> Any:
    with db.read() as conn:
        return q.get_job(conn, Scope.everything(), job_id)


def claim_concurrently(database: Database, runners: list[Runner]) -> list[str]:
    """Each runner claims in its own thread until nothing more is claimable; the job ids."""
    got: list[str] = []
    lock = threading.Lock()

    def claimer(r: Runner) -> None:
        while True:
            with database.write() as conn:
                lease = claims.claim(conn, r, 30)
            if lease is None:
                return
            with lock:
                got.append(lease.job_id)

    run_all([CheckedThread(target=claimer, args=(r,)) for r in runners])
    return got


def test_concurrent_claims_hand_out_each_job_once(database: Database) -> None:
    t = tenant(database, "t")
    ids = {job(database, t, f"j{i}") for i in range(12)}
    got = claim_concurrently(database, [runner(database, f"r{i}") for i in range(6)])
    assert sorted(got) == sorted(ids)
    assert all(get(database, i).secondary_status == "Starting" for i in ids)


def test_capacity_gpus_by_index_and_pending_reason(database: Database) -> None:
    t = tenant(database, "t")
    a, b, c = (job(database, t, n, resource_class="gpu.1") for n in "abc")
    big = job(database, t, "big", instance_count=4)  # 4 x 2 CPUs > 6
    r = runner(database, cpus=20, gpus=[0, 1])
    leases = []
    for _ in range(4):
        with database.write() as conn:
            leases.append(claims.claim(conn, r, 30))
    claimed = [x.job_id for x in leases if x]
    assert claimed == [a, b]  # c waits: both GPUs are taken; big does not fit the CPUs left
    assert sorted(get(database, a).gpu_indices + get(database, b).gpu_indices) == [0, 1]
    waiting = get(database, c)
    assert waiting.secondary_status == "Pending"
    assert waiting.pending_reason == "waiting for capacity in class gpu.1"
    assert get(database, big).secondary_status == "Pending"


def test_fair_order_prefers_tenant_with_fewer_running_jobs(database: Database) -> None:
    t1, t2 = tenant(database, "one"), tenant(database, "two")
    first = [job(database, t1, f"a{i}") for i in range(3)]
    late = job(database, t2, "b0")
    r = runner(database)
    order = []
    for _ in range(3):
        with database.write() as conn:
            lease = claims.claim(conn, r, 30)
        assert lease is not None
        order.append(lease.job_id)
    assert order == [first[0], late, first[1]]


def expire(database: Database, job_id: str) -> None:
    with database.write() as conn:
        conn.execute(
            training_jobs.update()
            .where(training_jobs.c.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


def test_expired_lease_retries_then_fails_and_fences_the_old_runner(database: Database) -> None:
    t = tenant(database, "t")
    j = job(database, t, "j")
    r = runner(database)
    with database.write() as conn:
        first = claims.claim(conn, r, 30)
    assert first is not None and first.attempt == 1
    expire(database, j)
    with database.write() as conn:
        for job_id, token in claims.expired(conn):
            claims.give_up_attempt(conn, job_id, token, "runner lost")
    after = get(database, j)
    assert (after.secondary_status, after.attempt) == ("Interrupted", 1)
    # The old runner is fenced out of every write.
    with pytest.raises(LeaseLost), database.write() as conn:
        fence(conn, first)
    with pytest.raises(LeaseLost), database.write() as conn:
        move_or_raise(conn, j, Secondary.DOWNLOADING, "late", lease=first)
    with database.write() as conn:
        assert claims.heartbeat(conn, first, 30) is None
    sink = LogSink(database, first, [])
    sink(LogLine(utcnow(), "algo-1", "stdout", "from a zombie"))
    sink.flush()
    with database.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(job_logs)).scalar_one() == 0
    # Retried: attempt 2 goes Interrupted → Starting; when it is lost too, attempts are exhausted.
    with database.write() as conn:
        second = claims.claim(conn, r, 30)
    assert second is not None and second.attempt == 2
    with database.write() as conn:
        assert claims.heartbeat(conn, second, 30) == Secondary.STARTING
    expire(database, j)
    with database.write() as conn:
        for job_id, token in claims.expired(conn):
            claims.give_up_attempt(conn, job_id, token, "runner lost")
    final = get(database, j)
    assert (final.secondary_status, final.status) == ("Failed", "Failed")
    assert final.failure_reason and "runner lost" in final.failure_reason
    assert final.billable_seconds == 0  # platform failures are not billed
    with database.read() as conn:
        seen = [x.secondary_status for x in q.transitions(conn, Scope.everything(), j)]
    assert seen == ["Pending", "Starting", "Interrupted", "Starting", "Failed"]


def test_transition_table_is_checked_in_the_update(database: Database) -> None:
    t = tenant(database, "t")
    j = job(database, t, "j")
    with database.write() as conn:
        assert move(conn, j, Secondary.TRAINING, "skip ahead") is None
        assert move(conn, j, Secondary.COMPLETED, "skip ahead") is None
        assert move(conn, j, Secondary.STOPPED, "stop") is not None
        assert move(conn, j, Secondary.STARTING, "revive") is None
    assert get(database, j).status == "Stopped"


def test_restarted_runner_gives_up_its_previous_jobs(database: Database) -> None:
    t = tenant(database, "t")
    j = job(database, t, "j")
    r = runner(database, "node-a")
    with database.write() as conn:
        assert claims.claim(conn, r, 300) is not None
    again = runner(database, "node-a")  # same name, new incarnation
    assert again.id == r.id
    with database.write() as conn:
        for job_id, token in claims.held_by(conn, again.id):
            claims.give_up_attempt(conn, job_id, token, "the runner restarted")
    assert get(database, j).secondary_status == "Interrupted"


@pytest.mark.parametrize("database", ["postgres"], indirect=True)  # SQLite serialises writers
def test_a_late_reconciler_never_interrupts_a_newer_attempt(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reconciler A reads the expired attempt (token 1); before its UPDATE, reconciler B gives it
    up and a runner claims attempt 2 (token 2). A's UPDATE presents token 1 and changes nothing."""
    t = tenant(database, "t")
    j = job(database, t, "j")
    r = runner(database)
    with database.write() as conn:
        assert claims.claim(conn, r, 30) is not None
    expire(database, j)
    with database.read() as conn:
        [(job_id, stale)] = claims.expired(conn)
    read_done, newer_claimed = threading.Event(), threading.Event()
    original = claims._platform_outcomes

    def between_read_and_update(conn: Any, jid: str) -> list[str]:
        if threading.current_thread().name == "reconciler-a":
            read_done.set()
            assert newer_claimed.wait(30)
        return original(conn, jid)

    monkeypatch.setattr(claims, "_platform_outcomes", between_read_and_update)
    result: dict[str, Any] = {}

    def reconciler_a() -> None:
        with database.write() as conn:
            result["a"] = claims.give_up_attempt(conn, job_id, stale, "lease expired (A)")

    a = CheckedThread(target=reconciler_a, name="reconciler-a")
    a.start()
    assert read_done.wait(30)
    with database.write() as conn:  # reconciler B, then the re-claim
        assert claims.give_up_attempt(conn, job_id, stale, "lease expired (B)") is not None
    with database.write() as conn:
        conn.execute(training_jobs.update().where(training_jobs.c.id == j).values(not_before=None))
        newer = claims.claim(conn, r, 30)
    assert newer is not None and newer.attempt == 2
    newer_claimed.set()
    a.join(30)  # re-raises reconciler A's failure
    assert result["a"] is None  # fenced out by its token in the UPDATE itself
    after = get(database, j)
    assert (after.secondary_status, after.attempt) == ("Starting", 2)
    with database.write() as conn:
        fence(conn, newer)  # attempt 2 still holds its lease


def make_due(db: Database, job_id: str) -> None:
    with db.write() as conn:
        conn.execute(
            training_jobs.update()
            .where(training_jobs.c.id == job_id)
            .values(not_before=utcnow() - timedelta(seconds=1))
        )


def test_interrupted_job_is_reclaimed_only_after_an_exponential_back_off(
    database: Database,
) -> None:
    t = tenant(database, "t")
    j = job(database, t, "j", max_attempts=5)
    r = runner(database)
    policy = Requeue(backoff_s=60, backoff_cap_s=3600)
    waits = []
    for attempt in (1, 2, 3):
        with database.write() as conn:
            lease = claims.claim(conn, r, 30)
            assert lease is not None and lease.attempt == attempt
            before = utcnow()
            claims.give_up_attempt(conn, j, lease.token, "runner lost", requeue=policy)
        due = get_not_before(database, j)
        assert due is not None
        waits.append((due - before).total_seconds())
        with database.write() as conn:
            assert claims.claim(conn, r, 30) is None  # not due yet: skipped by the claim
        make_due(database, j)
    assert waits[0] >= 60 and waits[1] >= 120 and waits[2] >= 240
    assert waits[1] < 240 and waits[2] < 480  # doubles, not more
    with database.write() as conn:
        again = claims.claim(conn, r, 30)
    assert again is not None and again.attempt == 4
    assert get_not_before(database, j) is None  # cleared by the claim


def get_not_before(db: Database, job_id: str) -> Any:
    with db.read() as conn:
        t = training_jobs
        return conn.execute(sa.select(t.c.not_before).where(t.c.id == job_id)).scalar_one()


def test_platform_outages_do_not_spend_the_tenants_attempts(database: Database) -> None:
    t = tenant(database, "t")
    j = job(database, t, "j", max_attempts=1)
    r = runner(database)
    policy = Requeue(max_outage_retries=3)
    for attempt in (1, 2, 3):
        with database.write() as conn:
            lease = claims.claim(conn, r, 30)
            assert lease is not None and lease.attempt == attempt
            got = claims.give_up_attempt(
                conn, j, lease.token, "store down", outage=True, requeue=policy
            )
        assert got == Secondary.INTERRUPTED
    # The separate cap: the fourth outage in a row fails the job.
    with database.write() as conn:
        lease = claims.claim(conn, r, 30)
        assert lease is not None
        final = claims.give_up_attempt(
            conn, j, lease.token, "store down", outage=True, requeue=policy
        )
    assert final == Secondary.FAILED
    assert get(database, j).failure_reason == "PlatformError: store down"


def test_a_platform_error_after_outages_still_has_the_tenants_attempt(database: Database) -> None:
    t = tenant(database, "t")
    j = job(database, t, "j", max_attempts=2)
    r = runner(database)
    kinds = [True, True, False, False]  # two outages, then the tenant's two attempts
    outcomes = []
    for outage in kinds:
        with database.write() as conn:
            lease = claims.claim(conn, r, 30)
            assert lease is not None
            outcomes.append(claims.give_up_attempt(conn, j, lease.token, "lost", outage=outage))
    assert outcomes[:3] == [Secondary.INTERRUPTED] * 3
    assert outcomes[3] == Secondary.FAILED
    assert get(database, j).attempt == 4

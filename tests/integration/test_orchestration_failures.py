"""The orchestration point on both databases: the failure kind lands on the attempt, and the
tenant's failure reason is derived from it."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from forgeml.db import job_queries as q
from forgeml.db.engine import Database
from forgeml.db.jobs import job_attempts, job_transitions, training_jobs
from forgeml.db.scope import Scope
from forgeml.domain.failures import FailureKind
from forgeml.domain.jobs import Secondary
from forgeml.domain.retry import Requeue
from forgeml.queue import claims
from forgeml.queue.transitions import move_or_raise
from tests.integration.test_jobs_queue import get, job, runner, tenant

NO_WAIT = Requeue(backoff_s=0)


def attempt_kinds(db: Database, job_id: str) -> list[tuple[int, str | None, str | None, bool]]:
    a = job_attempts
    stmt = sa.select(a.c.number, a.c.outcome, a.c.failure_kind, a.c.billable)
    with db.read() as conn:
        rows = conn.execute(stmt.where(a.c.job_id == job_id).order_by(a.c.number))
        return [(n, o, k, b) for n, o, k, b in rows]


def test_platform_losses_are_typed_on_the_attempt_and_the_last_one_fails_the_job(
    database: Database,
) -> None:
    t = tenant(database, "t")
    j = job(database, t, "j", max_attempts=2)
    r = runner(database)
    for expected in (Secondary.INTERRUPTED, Secondary.FAILED):
        with database.write() as conn:
            lease = claims.claim(conn, r, 30)
            assert lease is not None
            got = claims.give_up_attempt(conn, j, lease.token, "runner lost", requeue=NO_WAIT)
        assert got == expected
    lost = (FailureKind.PLATFORM_ERROR.value, FailureKind.PLATFORM_ERROR.value, False)
    assert attempt_kinds(database, j) == [(1, *lost), (2, *lost)]
    after = get(database, j)
    assert after.failure_reason == "PlatformError: runner lost"
    assert after.billable_seconds == 0  # platform failures are never billed


def test_an_outage_is_typed_apart_and_spends_no_tenant_attempt(database: Database) -> None:
    t = tenant(database, "t")
    j = job(database, t, "j", max_attempts=1)
    r = runner(database)
    with database.write() as conn:
        lease = claims.claim(conn, r, 30)
        assert lease is not None
        got = claims.give_up_attempt(conn, j, lease.token, "db down", outage=True, requeue=NO_WAIT)
    assert got == Secondary.INTERRUPTED  # max_attempts=1, yet retried
    [(_, outcome, kind, _)] = attempt_kinds(database, j)
    assert outcome == kind == FailureKind.PLATFORM_OUTAGE.value


def test_a_runners_failure_derives_its_reason_and_closes_the_attempt_with_the_kind(
    database: Database,
) -> None:
    t = tenant(database, "t")
    j = job(database, t, "j")
    r = runner(database)
    with database.write() as conn:
        lease = claims.claim(conn, r, 30)
        assert lease is not None
        move_or_raise(conn, j, Secondary.DOWNLOADING, "staging", lease=lease)
        move_or_raise(
            conn, j, Secondary.FAILED, "AlgorithmError: bad config", lease=lease,
            attempt_outcome=("Failed", True), failure=FailureKind.ALGORITHM_ERROR,
            reason="bad config",
        )  # fmt: skip
    assert get(database, j).failure_reason == "AlgorithmError: bad config"
    assert attempt_kinds(database, j) == [(1, "Failed", "algorithm_error", True)]
    t_ = job_transitions
    with database.read() as conn:
        history = conn.execute(
            sa.select(t_.c.secondary_status, t_.c.message).where(t_.c.job_id == j).order_by(t_.c.id)
        ).all()
        row = conn.execute(sa.select(training_jobs.c.lease_token).where(training_jobs.c.id == j))
        assert row.scalar_one() is None  # a terminal move drops the lease
        assert q.get_job(conn, Scope.everything(), j).ended_at is not None
    assert [s for s, _ in history] == ["Pending", "Starting", "Downloading", "Failed"]
    assert history[1][1] == "attempt 1 of 2 starting on runner r1"


def test_entering_training_stamps_the_attempt_and_training_time_counts_from_there(
    database: Database,
) -> None:
    t = tenant(database, "t")
    j = job(database, t, "j")
    r = runner(database)
    with database.write() as conn:
        lease = claims.claim(conn, r, 30)
        assert lease is not None
        move_or_raise(conn, j, Secondary.DOWNLOADING, "staging", lease=lease)
        started = q.attempt_times(conn, j)[0].starting_at
        # staging took 40 s, then the program ran 25 s
        at = started + timedelta(seconds=40)
        move_or_raise(
            conn, j, Secondary.TRAINING, "training", lease=lease,
            values={"training_started_at": at},
        )  # fmt: skip
        [times] = q.attempt_times(conn, j)
        assert times.training_started_at == at
        q.close_attempt(conn, j, 1, "Completed", True, None, at + timedelta(seconds=25))
        move_or_raise(conn, j, Secondary.UPLOADING, "uploading", lease=lease)
        done = move_or_raise(conn, j, Secondary.COMPLETED, "done", lease=lease)
    # billed from the program's start: the 40 s of staging are the platform's (issue 16)
    assert (done.billable_seconds, done.training_seconds) == (25, 25)

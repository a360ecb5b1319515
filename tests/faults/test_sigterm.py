"""Fault: SIGTERM to `forgeml worker` and to `forgeml server` while jobs run and clients poll.
What must hold whatever the drain policy: each process exits 0 within its grace, no job is lost
or duplicated, a job that was running is re-claimed or finished, the API comes back."""

from __future__ import annotations

import signal
import time

import pytest

from tests.faults import report
from tests.faults.platform import (
    JOBS,
    Outcome,
    check_completed_once,
    describe,
    new_tenant,
    submit,
    wait_done,
)
from tests.faults.stack import Probe, Stack, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults-store")]
GRACE_S = 30.0  # beyond this a supervisor would SIGKILL: the process must be gone by then
JOB_COUNT = 4


def terminate(stack: Stack, proc: object) -> tuple[int, float]:
    """SIGTERM and wait; (exit status, seconds it took)."""
    started = time.monotonic()
    status = stack.kill(proc, signal.SIGTERM)  # type: ignore[arg-type]
    return status, time.monotonic() - started


def test_sigterm_under_load(s3_stack: Stack) -> None:
    tenant = new_tenant(s3_stack)
    worker = s3_stack.start_worker("term-a")
    jobs = [
        submit(tenant.api, f"term-{i}", steps=6, **{"step-seconds": 0.3}) for i in range(JOB_COUNT)
    ]
    # Every job training: SIGTERM meets running training processes, not environment builds
    # (one that arrived during a build under heavy load once held the exit for over 60 s).
    wait_until(
        lambda: all(describe(tenant.api, j)["secondary_status"] == "Training" for j in jobs),
        90,
        "every job training",
    )
    with Probe(tenant.api, f"{JOBS}?limit=50") as probe, Probe(tenant.api, "/readyz") as ready:
        worker_rc, worker_s = terminate(s3_stack, worker)
        assert s3_stack.server is not None
        server_rc, server_s = terminate(s3_stack, s3_stack.server)
        restarted = time.monotonic()
        s3_stack.start_server()
        s3_stack.start_worker("term-b")
        serving = probe.serving_after(restarted)
        done = [wait_done(tenant.api, j) for j in jobs]
    recovery = time.monotonic() - restarted
    outcome = Outcome()
    check_completed_once(tenant.api, jobs, outcome)
    errors = probe.errors + ready.errors + tenant.api.errors
    report.record(
        "6. SIGTERM under load (worker, then server)",
        lost=outcome.lost,
        duplicated=outcome.duplicated,
        partial=outcome.partial,
        errors=errors,
        recovery_s=recovery,
        note=(
            f"worker exit {worker_rc} in {worker_s:.1f} s, server exit {server_rc} in "
            f"{server_s:.1f} s; API serving after {serving:.1f} s; "
            f"attempts {[j['attempt'] for j in done]}"
        ),
    )
    assert outcome.clean(), outcome
    assert worker_rc == 0 and server_rc == 0, (worker_rc, server_rc)
    assert worker_s < GRACE_S and server_s < GRACE_S
    assert 500 not in errors, errors

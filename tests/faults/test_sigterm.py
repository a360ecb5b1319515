"""Fault: SIGTERM to `forgeml worker` and to `forgeml server` while jobs train and clients poll.
The worker stops its attempts and gives them up (Interrupted, re-claimed by the next worker);
the server drains (/readyz 503 while requests are still served) and closes; both exit 0 within
their grace; every job completes exactly once."""

from __future__ import annotations

import signal
import subprocess
import time

import httpx
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
from tests.faults.stack import DRAIN_S, JOB_ENV, Probe, Stack, wait_until
from tests.support.server import free_port

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults-store")]
JOB_COUNT = 4
SERVER_GRACE_S = 30.0  # server.grace_s (default): drain + grace bound the server's exit
WORKER_GRACE_S = float(JOB_ENV["FORGEML_JOBS__STOP_GRACE_S"]) + 15  # what docs/operations.md says


def terminate(stack: Stack, proc: subprocess.Popen[bytes], grace_s: float) -> tuple[int, float]:
    """SIGTERM and wait; (exit status, seconds it took, for the report). A process still running
    after its documented grace fails the test (TimeoutExpired)."""
    started = time.monotonic()
    status = stack.kill(proc, signal.SIGTERM, within_s=grace_s)
    return status, time.monotonic() - started


def test_sigterm_under_load(s3_stack: Stack) -> None:
    tenant = new_tenant(s3_stack)
    health = f"127.0.0.1:{free_port()}"
    worker = s3_stack.start_worker("term-a", FORGEML_WORKER__HEALTH_LISTEN=health)
    jobs = [
        submit(tenant.api, f"term-{i}", steps=6, **{"step-seconds": 0.3}) for i in range(JOB_COUNT)
    ]
    # Every job training: SIGTERM meets running training programs, not environment builds.
    wait_until(
        lambda: all(describe(tenant.api, j)["secondary_status"] == "Training" for j in jobs),
        90,
        "every job training",
    )
    # The worker's own health endpoint says it is serving before the signal.
    wait_until(lambda: httpx.get(f"http://{health}/readyz").status_code == 200, 30, "worker ready")
    with Probe(tenant.api, f"{JOBS}?limit=50") as probe, Probe(tenant.api, "/readyz") as ready:
        worker_rc, worker_s = terminate(s3_stack, worker, WORKER_GRACE_S)
        assert s3_stack.server is not None
        server_rc, server_s = terminate(s3_stack, s3_stack.server, DRAIN_S + SERVER_GRACE_S)
        restarted = time.monotonic()
        s3_stack.start_server()
        s3_stack.start_worker("term-b")
        serving = probe.serving_after(restarted)
        done = [wait_done(tenant.api, j) for j in jobs]
    recovery = time.monotonic() - restarted
    outcome = Outcome()
    check_completed_once(tenant.api, jobs, outcome)
    errors = probe.errors + tenant.api.errors
    report.record(
        "6. SIGTERM under load (worker, then server)",
        lost=outcome.lost,
        duplicated=outcome.duplicated,
        partial=outcome.partial,
        errors=errors,
        recovery_s=recovery,
        note=(
            f"worker exit {worker_rc} in {worker_s:.1f} s, server exit {server_rc} in "
            f"{server_s:.1f} s ({ready.errors[503]} readyz 503 while draining); API serving "
            f"after {serving:.1f} s; attempts {[j['attempt'] for j in done]}"
        ),
    )
    assert outcome.clean(), outcome
    assert worker_rc == 0 and server_rc == 0, (worker_rc, server_rc)
    assert ready.errors[503] > 0  # /readyz said "draining" before the listener closed
    assert not errors, errors  # requests during the drain were served, none cut with a 5xx
    for job in done:  # each running attempt was given up for a retry, not lost or failed
        seen = [t["secondary_status"] for t in job["transitions"]]
        assert "Interrupted" in seen and job["attempt"] == 2, seen

"""Fault: the private PostgreSQL cluster crashes (`pg_ctl stop -m immediate`) and comes back,
during training, while a job finishes (artifact upload, final log flush) and before a worker
starts. Jobs complete exactly once; the API answers 503 (never 500) while the database is away;
a worker started without a database comes up and serves once it is back."""

from __future__ import annotations

import time
from typing import Any

import pytest

from forgeml.domain.jobs import is_terminal
from tests.faults import report
from tests.faults.platform import (
    JOBS,
    Outcome,
    Tenant,
    check_completed_once,
    describe,
    new_tenant,
    submit,
    try_submit,
    wait_done,
    wait_log,
)
from tests.faults.stack import Probe, Stack, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults-jobs")]
DOWN_S = 3.0  # long enough for heartbeats, flushes and API calls to fail
# An outage shorter than the lease must cost nothing: the attempt keeps its lease and completes.
# (One longer than the lease fences the attempt out and the job re-runs: also exactly once.)
LEASE = {"FORGEML_JOBS__LEASE_S": "10"}


def crash_db(stack: Stack) -> float:
    """Crash the cluster, keep it down DOWN_S, start it; the moment it is back."""
    stack.pg.stop("immediate")
    time.sleep(DOWN_S)
    stack.pg.start()
    return time.monotonic()


def conclude(
    scenario: str, tenant: Tenant, probe: Probe, job_id: str, back: float
) -> dict[str, Any]:
    """Wait for the job, check it, record the row, assert the invariants; the job."""
    serving = probe.serving_after(back)
    job = wait_done(tenant.api, job_id)
    done = time.monotonic() - back
    outcome = Outcome()
    check_completed_once(tenant.api, [job_id], outcome)
    errors = probe.errors + tenant.api.errors
    report.record(
        scenario,
        lost=outcome.lost,
        duplicated=outcome.duplicated,
        partial=outcome.partial,
        errors=errors,
        recovery_s=done,
        note=f"API serving after {serving:.1f} s; attempt {job['attempt']}",
    )
    assert outcome.clean(), outcome
    assert set(errors) <= {503}, errors  # an outage is a 503 with Retry-After, never a 500
    assert probe.failed() > 0  # the fault was seen by clients: the scenario tested something
    return job


def test_db_restart_during_training(s3_stack: Stack) -> None:
    tenant = new_tenant(s3_stack)
    s3_stack.start_worker("db-train", **LEASE)
    job_id = submit(tenant.api, "db-train", steps=10, **{"step-seconds": 0.4})
    wait_log(tenant.api, job_id, "step=2")
    with Probe(tenant.api, f"{JOBS}/{job_id}") as probe:
        back = crash_db(s3_stack)
        job = conclude("3a. DB restart during training", tenant, probe, job_id, back)
    assert job["attempt"] == 1, job  # the outage was shorter than the lease: nothing re-ran


def test_db_restart_during_finishing(s3_stack: Stack) -> None:
    tenant = new_tenant(s3_stack)
    s3_stack.start_worker("db-finish", **LEASE)
    # A 24 MiB incompressible model: packing and uploading it takes a moment to hit.
    job_id = submit(tenant.api, "db-finish", steps=2, **{"step-seconds": 0.2, "model-mb": 24})
    wait_until(
        lambda: describe(tenant.api, job_id)["secondary_status"] in {"Uploading", "Completed"},
        90,
        "the job to start finishing",
    )
    assert describe(tenant.api, job_id)["secondary_status"] == "Uploading"
    with Probe(tenant.api, f"{JOBS}/{job_id}") as probe:
        back = crash_db(s3_stack)
        job = conclude("3b. DB restart during finishing", tenant, probe, job_id, back)
    assert job["attempt"] == 1, job  # the same attempt completed: the training was kept


def test_worker_started_while_db_is_down_serves_once_it_is_back(s3_stack: Stack) -> None:
    tenant = new_tenant(s3_stack)
    with Probe(tenant.api, f"{JOBS}?limit=1") as probe:
        s3_stack.pg.stop("immediate")
        worker = s3_stack.start_worker("db-before", **LEASE)
        time.sleep(DOWN_S + 2)  # the worker's loops meet the outage at start-up
        assert worker.poll() is None, s3_stack.log("worker-db-before.log")
        s3_stack.pg.start()
        back = time.monotonic()
        job_id = wait_until(
            lambda: try_submit(tenant.api, "db-before", steps=1, **{"step-seconds": 0}),
            60,
            "submit",
        )
        conclude("3c. DB down before the worker starts", tenant, probe, job_id, back)
    assert worker.poll() is None  # the same process served it, no restart needed
    assert is_terminal(describe(tenant.api, job_id)["secondary_status"])

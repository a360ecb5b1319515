"""Fault: `forgeml worker` killed with SIGKILL in the middle of training. A new worker, under the
same runner name or another one, finishes the job exactly once (one attempt's artifacts)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults import report
from tests.faults.platform import (
    Outcome,
    check_completed_once,
    new_tenant,
    submit,
    wait_done,
    wait_log,
)
from tests.faults.stack import Stack

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults-jobs")]


@pytest.mark.parametrize("runner", ["same", "other"])
def test_worker_kill_9_mid_training_finishes_once(s3_stack: Stack, runner: str) -> None:
    tenant = new_tenant(s3_stack)
    victim = s3_stack.start_worker(f"r-{runner}-1")
    job_id = submit(tenant.api, f"kill-{runner}", steps=6, **{"step-seconds": 0.4})
    wait_log(tenant.api, job_id, "step=2")
    s3_stack.kill(victim)
    fault_end = time.monotonic()
    s3_stack.start_worker(f"r-{runner}-1" if runner == "same" else f"r-{runner}-2")
    job = wait_done(tenant.api, job_id)
    recovery = time.monotonic() - fault_end
    outcome = Outcome()
    check_completed_once(tenant.api, [job_id], outcome)
    report.record(
        f"1. worker kill -9 mid-training ({runner} runner name)",
        lost=outcome.lost,
        duplicated=outcome.duplicated,
        partial=outcome.partial,
        errors=tenant.api.errors,
        recovery_s=recovery,
        note=f"attempt {job['attempt']}",
    )
    assert outcome.clean(), outcome
    assert job["status"] == "Completed" and job["attempt"] == 2, job
    seen = [t["secondary_status"] for t in job["transitions"]]
    assert "Interrupted" in seen and seen.count("Training") == 2, seen
    assert not tenant.api.errors
    if runner == "same":
        # The restarted incarnation released what the killed one left mounted (its job volume).
        work = s3_stack.root / f"home-worker-r-{runner}-1" / "work" / job_id
        assert mounts_under(work) == [], mounts_under(work)


def mounts_under(folder: Path) -> list[str]:
    return [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(str(folder))
    ]

"""Fault: SeaweedFS killed and restarted on the same ports and data, while the API streams a
dataset file into it and while a job uploads its artifacts. The upload is answered 503 (never
500), stays resumable and commits whole; the job completes in the same attempt."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.faults import report
from tests.faults.platform import (
    Outcome,
    check_completed_once,
    describe,
    new_tenant,
    submit,
    wait_done,
)
from tests.faults.stack import Stack, wait_until
from tests.faults.uploads import new_session, partial_visible, resume_and_commit
from tests.support.seaweedfs import restart_seaweedfs

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults-store")]
DOWN_S = 3.0


def test_store_restart_mid_upload(s3_stack: Stack) -> None:
    assert s3_stack.s3 is not None
    tenant = new_tenant(s3_stack)
    session = new_session(tenant.api, {"big.bin": 12 * 1024 * 1024})
    cut = session.cut("big.bin")
    s3_stack.s3.stop()  # SIGKILL while half of the file is in
    result = cut.release()  # the rest arrives with no store behind the API
    restart_seaweedfs(s3_stack.s3, down_s=0)
    back = time.monotonic()
    answered = result.status_code if isinstance(result, httpx.Response) else None
    partial = partial_visible(session, "big.bin")
    number, whole = resume_and_commit(session, "big.bin")
    report.record(
        "4a. S3 restart mid-upload (API)",
        lost=int(not whole),
        duplicated=len(session.committed_versions()) - 1,
        partial=partial,
        errors=tenant.api.errors,
        recovery_s=time.monotonic() - back,
        note=f"the cut PUT was answered {answered or type(result).__name__}; committed v{number}",
    )
    assert answered is None or answered == 503, result.text  # an outage, said as one
    assert partial == 0 and whole
    assert set(tenant.api.errors) <= {503}, tenant.api.errors


def test_store_restart_mid_artifact_upload(s3_stack: Stack) -> None:
    assert s3_stack.s3 is not None
    tenant = new_tenant(s3_stack)
    s3_stack.start_worker("store-finish")
    job_id = submit(tenant.api, "s3-finish", steps=2, **{"step-seconds": 0.2, "model-mb": 24})
    wait_until(
        lambda: describe(tenant.api, job_id)["secondary_status"] in {"Uploading", "Completed"},
        90,
        "the job to start finishing",
    )
    assert describe(tenant.api, job_id)["secondary_status"] == "Uploading"
    restart_seaweedfs(s3_stack.s3, down_s=DOWN_S)
    back = time.monotonic()
    job = wait_done(tenant.api, job_id)
    outcome = Outcome()
    check_completed_once(tenant.api, [job_id], outcome)
    report.record(
        "4b. S3 restart mid-artifact-upload (job finishing)",
        lost=outcome.lost,
        duplicated=outcome.duplicated,
        partial=outcome.partial,
        errors=tenant.api.errors,
        recovery_s=time.monotonic() - back,
        note=f"attempt {job['attempt']}",
    )
    assert outcome.clean(), outcome
    assert job["attempt"] == 1, job  # the upload was retried, the training kept
    assert not tenant.api.errors

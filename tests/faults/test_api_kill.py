"""Fault: `forgeml server` killed with SIGKILL while a client streams a dataset file in, on the
file store and on S3. After a restart nothing partial is visible, the same upload session takes
the file again, and the commit serves the full bytes (sha256)."""

from __future__ import annotations

import time

import pytest

from tests.faults import report
from tests.faults.platform import new_tenant
from tests.faults.stack import Stack
from tests.faults.uploads import new_session, partial_visible, resume_and_commit

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults-store")]


@pytest.mark.parametrize("store", ["file", "s3"])
def test_api_kill_9_mid_upload_resumes_whole(request: pytest.FixtureRequest, store: str) -> None:
    stack: Stack = request.getfixturevalue(f"{store}_stack")
    tenant = new_tenant(stack)
    session = new_session(tenant.api, {"a.bin": 256 * 1024, "big.bin": 12 * 1024 * 1024})
    assert session.put("a.bin").status_code in (200, 201)
    cut = session.cut("big.bin")
    stack.kill_server()  # half of big.bin is in the server when it dies
    result = cut.release()
    restarted = time.monotonic()
    stack.start_server()
    recovery = time.monotonic() - restarted
    partial = partial_visible(session, "big.bin")
    kept = session.states()["a.bin"] == "uploaded"  # the finished file survived the crash
    number, whole = resume_and_commit(session, "big.bin")
    lost = int(not kept) + int(not whole)
    report.record(
        f"2. API kill -9 mid-upload ({store} store)",
        lost=lost,
        duplicated=len(session.committed_versions()) - 1,
        partial=partial,
        errors=tenant.api.errors,
        recovery_s=recovery,
        note=f"client saw {type(result).__name__}; committed v{number}",
    )
    assert result is not None  # the client saw its request cut
    assert partial == 0 and lost == 0
    assert [v["number"] for v in session.committed_versions()] == [number]
    assert not tenant.api.errors

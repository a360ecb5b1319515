"""Fault: the file store's disk fills up under an upload (a small tmpfs). The client gets the
outage envelope (503 `unavailable` with Retry-After: the store's ENOSPC is a platform problem,
the detail goes to the server log), nothing partial is visible or left behind, and the same
session takes the file once space is freed."""

from __future__ import annotations

import shutil
import time

import pytest

from tests.faults import report
from tests.faults.platform import new_tenant
from tests.faults.stack import Stack
from tests.faults.uploads import new_session, partial_visible, resume_and_commit
from tests.support.services import service_missing

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults-store")]


def test_disk_full_on_the_file_store(file_stack: Stack) -> None:
    if file_stack.disk_problem:
        service_missing(file_stack.disk_problem)
    objects = file_stack.root / "objects"
    filler = objects / "filler.bin"  # another user of the disk: all but 2 MiB of it is taken
    filler.write_bytes(b"\0" * (shutil.disk_usage(objects).free - 2 * 1024 * 1024))
    used_before = shutil.disk_usage(objects).used
    tenant = new_tenant(file_stack)
    session = new_session(tenant.api, {"big.bin": 4 * 1024 * 1024})
    resp = session.put("big.bin")
    envelope = resp.json().get("error", {})
    leftover = shutil.disk_usage(objects).used - used_before  # temp bytes the failure left
    partial = partial_visible(session, "big.bin")
    filler.unlink()  # the operator frees space
    freed = time.monotonic()
    number, whole = resume_and_commit(session, "big.bin")
    report.record(
        "5. disk full on the file store",
        lost=int(not whole),
        duplicated=len(session.committed_versions()) - 1,
        partial=partial,
        errors=tenant.api.errors,
        recovery_s=time.monotonic() - freed,
        note=f"answered {resp.status_code} {envelope.get('code')}; {leftover} bytes left behind",
    )
    assert resp.status_code == 503 and envelope["code"] == "unavailable", resp.text
    assert int(resp.headers["Retry-After"]) > 0
    assert "objects" not in resp.text  # no internal path reaches the tenant
    assert partial == 0 and whole and number == 1
    assert leftover < 64 * 1024, leftover  # the half-written temp file was removed
    assert set(tenant.api.errors) <= {503}

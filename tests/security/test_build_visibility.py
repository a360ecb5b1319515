"""What a tenant whose job waits on an environment build sees of it: the phase, the elapsed time
and how many packages are installed, never a package name or a line of the owner's build log;
the build log routes themselves do not exist for tenants (404), whatever their role."""

from __future__ import annotations

import json
from typing import Any

from forgeml.db import algorithms as algo_q
from forgeml.domain.build_progress import BuildPhase
from forgeml.services.algorithms.build_recorder import BuildRecorder
from tests.security.conftest import OWNER_SECRET, Stage
from tests.support.jobs import JOBS, describe, submit, upload_dataset
from tests.support.world import World

SECRET_PACKAGE = "owner-private-pkg"  # a requirement of the owner: a tenant must not learn it
# What a uv build of the owner's requirements prints: package names, versions, paths.
OWNER_LINES = [
    "=== building environment sha256:... with /srv/forgeml/python",
    f"$ uv pip install -r /srv/envs/abc.code/requirements.txt  # {OWNER_SECRET}",
    "Resolved 2 packages in 4ms",
    f"Downloading {SECRET_PACKAGE} (12.0MiB)",
    "Prepared 2 packages in 41ms",
    "Installed 2 packages in 10ms",
    f" + {SECRET_PACKAGE}==3.1.4",
    " + numpy==2.1.0",
]
ROLES = ("tenant-admin", "member", "viewer")


def _owner_build_running(world: World, version_id: str) -> BuildRecorder:
    """A build of the careless algorithm that has installed its packages and is still running."""
    rec = BuildRecorder(world.services.db, version_id, flush_s=60)
    rec.phase(BuildPhase.CREATING)
    rec.phase(BuildPhase.RESOLVING)
    for line in OWNER_LINES:
        rec.line(line + "\n")
    assert rec.flush()
    return rec


def _version_of(world: World, version_id: str) -> Any:
    with world.services.db.read() as conn:
        return algo_q.get_version(conn, version_id)


def test_waiting_job_shows_progress_but_no_name_or_line(world: World, stage: Stage) -> None:
    ds = upload_dataset(world, world.a.h(), "rows", {"data.csv": b"1,2\n"})
    body = {
        "name": "waits",
        "algorithm": stage.algorithm,
        "input_data": {"train": {"dataset_id": ds}},
    }
    job = submit(world, world.a.h(), body)
    version = _version_of(world, stage.algorithm)
    rec = _owner_build_running(world, version.id)
    try:
        for role in ROLES:
            seen = describe(world, world.a.h(role), job["id"])
            build = seen["environment_build"]
            assert set(build) == {"phase", "started_at", "elapsed_s", "packages_installed"}
            assert build["phase"] == "installing" and build["packages_installed"] == 2
            shown = json.dumps(seen) + world.client.get(JOBS, headers=world.a.h(role)).text
            shown += world.client.get(f"{JOBS}/{job['id']}/events", headers=world.a.h(role)).text
            shown += world.client.get(f"{JOBS}/{job['id']}/logs", headers=world.a.h(role)).text
            for secret in (SECRET_PACKAGE, "numpy", OWNER_SECRET, "requirements.txt", "/srv/"):
                assert secret not in shown, (role, secret)
        other = world.client.get(f"{JOBS}/{job['id']}", headers=world.b.h())
        assert other.status_code == 404  # tenant B learns nothing, not even that it builds
    finally:
        rec.phase(BuildPhase.DONE)
        rec.__exit__(None, None, None)
    assert describe(world, world.a.h(), job["id"])["environment_build"] is None  # over


def test_build_log_routes_do_not_exist_for_tenants(world: World, stage: Stage) -> None:
    version = _version_of(world, stage.algorithm)
    rec = _owner_build_running(world, version.id)
    rec.__exit__(None, None, None)
    base = f"/api/v1/admin/algorithms/{version.algorithm_id}/versions/{version.id}/build-log"
    for suffix in ("", "/lines", "/lines?after=0&limit=5", "/stream"):
        for tenant in (world.a, world.b):
            for role in ROLES:
                resp = world.client.get(base + suffix, headers=tenant.h(role))
                assert resp.status_code == 404, (suffix, role, resp.text)
                assert resp.json()["error"]["code"] == "not_found"
                assert SECRET_PACKAGE not in resp.text and OWNER_SECRET not in resp.text
    admin = world.client.get(base + "/lines", headers=world.admin).json()
    assert any(SECRET_PACKAGE in x["line"] for x in admin["items"])  # the owner does see it


def test_an_overlong_id_on_the_admin_surface_is_a_plain_404(world: World) -> None:
    """The refusal is audited with the id the tenant sent, cut to the column (no 500)."""
    long_id = "Ω≈ç" * 100
    for path in (f"x/versions/{long_id}/build-log/stream", f"{long_id}/versions/y/build-log/lines"):
        resp = world.client.get(f"/api/v1/admin/algorithms/{path}", headers=world.a.h())
        assert resp.status_code == 404, resp.text

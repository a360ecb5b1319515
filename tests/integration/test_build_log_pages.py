"""The portal's build log page (the latest build's phase and lines, followed live) for platform
admins only, and the job page of a tenant whose job waits on a build (phase, time, count only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from forgeml.domain.build_progress import BuildPhase
from forgeml.services.algorithms.build_recorder import BuildRecorder
from forgeml.services.container import Services
from forgeml.workers.algorithm_builder import AlgorithmBuilder
from tests.integration.test_portal_pages import HTML, sign_in
from tests.support.algorithms import register, remove_envs, tiny_bundle
from tests.support.jobs import job_body, register_algorithm, submit, upload_dataset
from tests.support.world import World

SECRET_PACKAGE = "owner-private-pkg"


@pytest.fixture(autouse=True)
def _remove_envs(services: Services) -> Iterator[None]:
    yield
    remove_envs(services)


def page_of(v: dict[str, str]) -> str:
    return f"/admin/algorithms/{v['algorithm_id']}/versions/{v['id']}/log"


def test_build_log_page_shows_the_latest_build_and_follows_it(world: World) -> None:
    v = register(world, tiny_bundle(requirements=""), build=True)
    admin = sign_in(world.client, "root@example.com")
    queued = admin.get(page_of(v), headers=HTML)
    assert queued.status_code == 200 and 'id="build-phase">queued<' in queued.text
    assert 'data-finished="false"' in queued.text  # the page will follow the build
    builder = AlgorithmBuilder(world.services.algorithm_envs, "test-worker")
    assert builder.tick()
    built = admin.get(page_of(v), headers=HTML).text
    assert 'id="build-phase">done<' in built and 'data-finished="true"' in built
    assert "=== build succeeded" in built and "/static/build_log.js" in built
    with admin.stream("GET", page_of(v) + "/live", headers=HTML) as live:
        assert live.status_code == 200
        text = "".join(live.iter_text())
    assert (
        "event: build" in text
        and '"phase": "done"' in text
        and text.endswith("event: end\ndata: {}\n\n")
    )


def test_tenants_get_no_build_log_page(world: World) -> None:
    v = register(world, tiny_bundle(requirements=""))
    tenant = sign_in(world.client, "tenant-admin@a.example.com")
    for path in (page_of(v), page_of(v) + "/live"):
        resp = tenant.get(path, headers=HTML)
        assert resp.status_code == 403 and SECRET_PACKAGE not in resp.text


def test_job_page_says_the_environment_is_being_built_without_names(
    world: World, client: TestClient
) -> None:
    v = register_algorithm(world)
    ds = upload_dataset(world, world.a.h(), "rows", {"rows.csv": b"a,b\n1,2\n"})
    job = submit(world, world.a.h(), job_body("waits", v["id"], ds))
    rec = BuildRecorder(world.services.db, v["id"], flush_s=60)
    rec.phase(BuildPhase.CREATING)
    for line in ("Resolved 1 package in 4ms", "Prepared 1 package", "Installed 1 package in 3ms"):
        rec.line(line + "\n")
    rec.line(f" + {SECRET_PACKAGE}==1.0\n")
    assert rec.flush()
    tenant = sign_in(world.client, "tenant-admin@a.example.com")
    page = tenant.get(f"/jobs/{job['id']}", headers=HTML).text
    assert "Environment being built:" in page
    assert 'id="job-build-text">installing, ' in page and "1 package installed" in page
    assert SECRET_PACKAGE not in page
    rec.phase(BuildPhase.DONE)
    rec.__exit__(None, None, None)
    after = tenant.get(f"/jobs/{job['id']}", headers=HTML).text
    assert 'id="job-build" class="flash" role="status" hidden' in after

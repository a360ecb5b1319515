"""Checkpoint locations in the portal: create, list, browse by prefix, download links, delete,
and another tenant's location is the HTML 404 page."""

from __future__ import annotations

from tests.integration.test_portal_pages import HTML, csrf_of, sign_in
from tests.support.checkpoints import create_location, put_file
from tests.support.world import World


def test_create_browse_and_delete_in_the_portal(world: World) -> None:
    c = sign_in(world.client, "tenant-admin@a.example.com")
    page = c.get("/checkpoints", headers=HTML)
    assert page.status_code == 200 and "No checkpoint locations yet" in page.text
    bad = c.post("/checkpoints", data={"name": "../x", "csrf_token": csrf_of(page.text)})
    assert bad.status_code == 422
    r = c.post(
        "/checkpoints",
        data={"name": "portal-ckpt", "description": "nightly", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    detail_url = r.headers["location"]
    loc_id = detail_url.rsplit("/", 1)[1]
    loc = {"id": loc_id, "tenant_id": world.a.id}
    put_file(world, loc, "epoch-3/model.pt", b"w" * 10)
    put_file(world, loc, "state.json", b"{}")
    listed = c.get("/checkpoints", headers=HTML).text
    assert "portal-ckpt" in listed and "nightly" in listed
    detail = c.get(detail_url, headers=HTML).text
    api = f"/api/v1/checkpoint-locations/{loc_id}"
    assert f'href="{api}/files/epoch-3/model.pt"' in detail
    assert f'href="{api}/files/state.json"' in detail and f'href="{api}/archive"' in detail
    folder = c.get(f"{detail_url}?prefix=epoch-3/", headers=HTML).text
    assert "model.pt" in folder and "state.json" not in folder
    assert c.get(f"{api}/files/epoch-3/model.pt").content == b"w" * 10  # the session cookie
    r = c.post(f"{detail_url}/delete", data={"csrf_token": csrf_of(detail)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/checkpoints"
    assert c.get(detail_url, headers=HTML).status_code == 404


def test_another_tenants_location_page_is_the_html_404(world: World) -> None:
    loc = create_location(world, world.a.h(), "secret-ckpt")
    c = sign_in(world.client, "tenant-admin@b.example.com")
    r = c.get(f"/checkpoints/{loc['id']}", headers=HTML)
    assert r.status_code == 404 and "Page not found" in r.text and "secret-ckpt" not in r.text
    page = c.get("/checkpoints", headers=HTML).text
    assert "secret-ckpt" not in page
    r = c.post(f"/checkpoints/{loc['id']}/delete", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 404
    assert (
        world.client.get(
            f"/api/v1/checkpoint-locations/{loc['id']}", headers=world.a.h()
        ).status_code
        == 200
    )


def test_the_train_form_points_a_job_at_a_location(world: World) -> None:
    from tests.support.jobs import JOBS, register_fixture

    v = register_fixture(world, "checkpoint-resume")
    loc = create_location(world, world.a.h(), "form-ckpt")
    c = sign_in(world.client, "tenant-admin@a.example.com")
    url = f"/algorithms/{v['algorithm_id']}/train"
    form = c.get(url, headers=HTML)
    assert form.status_code == 200 and "form-ckpt (0 files)" in form.text
    data = {
        "csrf_token": csrf_of(form.text),
        "version_id": v["id"],
        "name": "from-form",
        "resource_class": "cpu.small",
        "instance_count": "1",
        "max_runtime_min": "10",
        "checkpoint_location": loc["id"],
        "checkpoint_path": "/opt/ml/../etc",
    }
    bad = c.post(url, data=data, headers=HTML)
    assert (bad.status_code == 422 and "must be" in bad.text) or "segment" in bad.text
    r = c.post(url, data={**data, "checkpoint_path": "/opt/ml/ck"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    job_id = r.headers["location"].rsplit("/", 1)[1]
    job = world.client.get(f"{JOBS}/{job_id}", headers=world.a.h()).json()
    assert job["checkpoint_config"]["location_id"] == loc["id"]
    assert job["checkpoint_config"]["local_path"] == "/opt/ml/ck"
    page = c.get(f"/jobs/{job_id}", headers=HTML).text
    assert f'href="/checkpoints/{loc["id"]}"' in page and "/opt/ml/ck" in page

"""Resource classes declare the ml.* instance type they stand for; programs see it."""

from __future__ import annotations

from tests.integration.test_portal_pages import HTML, csrf_of, sign_in
from tests.support.world import World

CLASSES = "/api/v1/admin/resource-classes"


def test_class_declares_its_instance_type(world: World) -> None:
    body = {"name": "cpu.xl", "cpus": 4, "memory_bytes": 2**30, "instance_type": "ml.c5.xlarge"}
    put = world.client.put(CLASSES, json=body, headers=world.admin)
    assert put.status_code == 200, put.text
    assert put.json()["instance_type"] == "ml.c5.xlarge"
    assert put.json()["effective_instance_type"] == "ml.c5.xlarge"
    plain = world.client.put(CLASSES, json={**body, "instance_type": None}, headers=world.admin)
    assert (plain.json()["instance_type"], plain.json()["effective_instance_type"]) == (
        None,
        "ml.m5.xlarge",
    )
    listed = world.client.get("/api/v1/resource-classes", headers=world.a.h()).json()
    assert {c["name"]: c["effective_instance_type"] for c in listed}["cpu.xl"] == "ml.m5.xlarge"


def test_bad_instance_type_is_refused(world: World) -> None:
    body = {"name": "cpu.xl", "cpus": 4, "memory_bytes": 2**30, "instance_type": "m5 large"}
    put = world.client.put(CLASSES, json=body, headers=world.admin)
    assert put.status_code == 422
    assert put.json()["error"]["details"]["errors"][0]["loc"] == "instance_type"


def test_portal_form_declares_the_instance_type(world: World) -> None:
    c = sign_in(world.client, "root@example.com")
    page = c.get("/admin/resources", headers=HTML)
    assert page.status_code == 200 and 'name="instance_type"' in page.text
    form = {
        "name": "cpu.portal", "description": "", "cpus": "2", "memory_gib": "1", "gpus": "0",
        "max_volume_gb": "5", "price_per_hour": "0", "enabled": "on",
        "instance_type": "ml.c5.large", "csrf_token": csrf_of(page.text),
    }  # fmt: skip
    saved = c.post("/admin/resources", data=form, headers=HTML)
    assert saved.status_code == 200 and "ml.c5.large" in saved.text
    bad = c.post("/admin/resources", data={**form, "instance_type": "big"}, headers=HTML)
    assert bad.status_code == 422 and "ml.&lt;family&gt;.&lt;size&gt;" in bad.text

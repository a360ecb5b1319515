"""Resource classes declare the ml.* instance type they stand for; programs see it."""

from __future__ import annotations

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

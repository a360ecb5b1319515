"""Generated from the app's route table (its OpenAPI document): as tenant A, every id of tenant B
→ 404, and lists never contain B's rows.

A new route with a path parameter that declares no resource type fails here, so no route can
be added without this check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.resources import FACTORIES, SAMPLE_BODIES
from tests.support.world import World

TENANT_ROLES = ("tenant-admin", "member", "viewer")
# Streaming endpoints the route walker must not wait on (they get their own tests).
STREAMING: set[str] = {"event.stream", "training_job.logs_stream", "training_job.events_stream"}
# Platform-admin surfaces: refused to tenant principals as a whole (no tenant list to check).
ADMIN_PREFIX = "/api/v1/admin/"


@dataclass
class Op:
    method: str
    path: str
    name: str
    resources: dict[str, str]
    has_body: bool


def operations(world: World) -> list[Op]:
    spec: dict[str, Any] = world.client.app.openapi()  # type: ignore[attr-defined]
    ops = []
    for path, item in spec["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method, op in item.items():
            ops.append(
                Op(
                    method.upper(),
                    path,
                    op["operationId"],
                    dict(op.get("x-forgeml-resources", {})),
                    "requestBody" in op,
                )
            )
    return ops


def fill(op: Op, world: World) -> str:
    path = op.path
    for param in re.findall(r"{(\w+)}", op.path):
        assert param in op.resources, (
            f"{op.name} {op.path}: path parameter {param!r} declares no resource type"
        )
        kind = op.resources[param]
        assert kind in FACTORIES, (
            f"resource type {kind!r} has no factory in tests/support/resources.py"
        )
        path = path.replace(f"{{{param}}}", FACTORIES[kind](world))
    return path


def b_ids(world: World) -> set[str]:
    ids = {world.b.id, *world.b.token_ids.values()}
    return ids | {str(u["id"]) for u in world.b.users.values()}


def test_every_route_with_ids_of_tenant_b_is_404_for_tenant_a(world: World) -> None:
    checked = 0
    for op in operations(world):
        if "{" not in op.path or op.name in STREAMING:
            continue
        path = fill(op, world)
        for role in TENANT_ROLES:
            body = SAMPLE_BODIES.get(op.name, {}) if op.has_body else None
            resp = world.client.request(op.method, path, headers=world.a.h(role), json=body)
            assert resp.status_code == 404, (
                f"{role} {op.method} {path} ({op.name}) → {resp.status_code} {resp.text}"
            )
            assert resp.json()["error"]["code"] == "not_found"
            checked += 1
        # sanity: the platform admin sees the same object, so the 404 above is scoping, not absence
        if op.method == "GET":
            assert world.client.get(path, headers=world.admin).status_code == 200, path
    assert checked >= 10


def test_lists_never_contain_rows_of_tenant_b(world: World) -> None:
    leaked = {}
    listed = 0
    for op in operations(world):
        if op.method != "GET" or "{" in op.path or op.name in STREAMING:
            continue
        for role in TENANT_ROLES:
            resp = world.client.get(op.path, headers=world.a.h(role))
            if op.path.startswith(ADMIN_PREFIX):
                assert resp.status_code in (403, 404), f"{role} {op.path}: {resp.status_code}"
                continue
            if resp.status_code == 403:
                continue
            assert resp.status_code == 200, f"{op.path}: {resp.text}"
            # the text, not the JSON: exports (usage CSV) are lists too
            hits = {i for i in b_ids(world) if i in resp.text}
            if hits:
                leaked[f"{role} {op.path}"] = hits
            listed += 1
    assert leaked == {}
    assert listed >= 4


def test_platform_admin_lists_see_both_tenants(world: World) -> None:
    users = world.client.get("/api/v1/users?limit=200", headers=world.admin).json()["items"]
    assert {world.a.id, world.b.id} <= {u["tenant_id"] for u in users}


@pytest.mark.parametrize("role", TENANT_ROLES)
def test_tenant_a_cannot_target_tenant_b_through_bodies(world: World, role: str) -> None:
    """Ids inside bodies are scoped too: creating a user or token in B from A never succeeds."""
    c = world.client
    resp = c.post(
        "/api/v1/users",
        headers=world.a.h(role),
        json={"email": f"x-{role}@evil.example.com", "tenant_id": world.b.id},
    )
    assert resp.status_code in (403, 404)
    resp = c.post(
        "/api/v1/tokens",
        headers=world.a.h(role),
        json={"name": "steal", "user_id": world.b.users["member"]["id"]},
    )
    assert resp.status_code == 404

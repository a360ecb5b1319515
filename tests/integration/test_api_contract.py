"""The API's promises: one error envelope, validation, roles, mass assignment, pagination, OpenAPI."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.world import World


def envelope(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"code", "message", "details"}
    if code:
        assert err["code"] == code
    return dict(err)


def test_unknown_routes_methods_and_bad_json_use_the_envelope(world: World) -> None:
    c = world.client
    envelope(c.get("/api/v1/nope", headers=world.admin), 404, "not_found")
    envelope(c.put("/api/v1/me", headers=world.admin), 405, "method_not_allowed")
    bad = c.post(
        "/api/v1/tenants",
        content=b"{not json",
        headers={**world.admin, "content-type": "application/json"},
    )
    envelope(bad, 422, "invalid_input")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "ok-name", "unexpected": 1},  # unknown field
        {"name": 42},  # wrong type
        {"name": "ok", "storage_quota_bytes": "lots"},
        {"name": "Bad Name!"},  # fails the domain rule
        {},
    ],
)
def test_invalid_bodies_are_422_with_field_locations(world: World, body: dict[str, Any]) -> None:
    err = envelope(
        world.client.post("/api/v1/tenants", json=body, headers=world.admin), 422, "invalid_input"
    )
    assert err["details"]["errors"][0]["loc"]


def test_oversized_body_is_refused_before_processing(world: World) -> None:
    big = {"name": "x", "display_name": "y" * (2 * 1024 * 1024)}
    err = envelope(
        world.client.post("/api/v1/tenants", json=big, headers=world.admin),
        413,
        "payload_too_large",
    )
    assert err["details"]["limit"] == world.services.settings.max_body_bytes


def test_request_ids_are_returned_and_echoed(world: World) -> None:
    resp = world.client.get("/api/v1/me", headers={**world.admin, "X-Request-ID": "abc-123"})
    assert resp.headers["x-request-id"] == "abc-123"
    assert len(world.client.get("/healthz").headers["x-request-id"]) == 32
    assert (
        world.client.get("/healthz", headers={"X-Request-ID": "bad id\n"}).headers["x-request-id"]
        != "bad id\n"
    )


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_roles_without_the_right_get_403_inside_their_tenant(world: World, role: str) -> None:
    c, h = world.client, world.a.h(role)
    envelope(
        c.post("/api/v1/users", headers=h, json={"email": "n@a.example.com"}), 403, "forbidden"
    )
    envelope(c.get("/api/v1/users", headers=h), 403)
    envelope(c.get("/api/v1/audit", headers=h), 403)
    envelope(c.post("/api/v1/tenants", headers=h, json={"name": "t"}), 403)
    envelope(c.patch(f"/api/v1/tenants/{world.a.id}", headers=h, json={"name": "t"}), 403)
    own = world.a.users[role]["id"]
    assert c.get(f"/api/v1/users/{own}", headers=h).status_code == 200  # oneself is always visible


def test_tenant_admin_manages_only_own_tenant_and_cannot_escalate(world: World) -> None:
    c, h = world.client, world.a.h()
    made = c.post("/api/v1/users", headers=h, json={"email": "new@a.example.com", "role": "member"})
    assert made.status_code == 201 and made.json()["tenant_id"] == world.a.id
    # mass assignment: platform-admin role and foreign tenant ids are never honoured
    envelope(
        c.post(
            "/api/v1/users", headers=h, json={"email": "p@a.example.com", "role": "platform-admin"}
        ),
        403,
    )
    envelope(
        c.post(
            "/api/v1/users", headers=h, json={"email": "q@a.example.com", "tenant_id": world.b.id}
        ),
        404,
    )
    uid = made.json()["id"]
    envelope(c.patch(f"/api/v1/users/{uid}", headers=h, json={"role": "platform-admin"}), 403)
    envelope(c.patch(f"/api/v1/users/{uid}", headers=h, json={"tenant_id": world.b.id}), 422)
    assert (
        c.patch(f"/api/v1/users/{uid}", headers=h, json={"role": "viewer"}).json()["role"]
        == "viewer"
    )
    envelope(c.patch(f"/api/v1/users/{world.admin_user_id}", headers=h, json={"name": "x"}), 404)
    assert c.delete(f"/api/v1/users/{uid}", headers=h).status_code == 204
    envelope(c.get(f"/api/v1/users/{uid}", headers=h), 404)


def test_member_can_change_own_name_but_not_own_role(world: World) -> None:
    c, h = world.client, world.a.h("member")
    uid = world.a.users["member"]["id"]
    assert c.patch(f"/api/v1/users/{uid}", headers=h, json={"name": "Mia"}).json()["name"] == "Mia"
    envelope(c.patch(f"/api/v1/users/{uid}", headers=h, json={"role": "tenant-admin"}), 403)


def test_the_last_platform_admin_cannot_be_removed(world: World) -> None:
    envelope(world.client.delete(f"/api/v1/users/{world.admin_user_id}", headers=world.admin), 409)


def test_tenant_rename_and_duplicate_names(world: World) -> None:
    c = world.client
    assert (
        c.patch(f"/api/v1/tenants/{world.a.id}", headers=world.admin, json={"name": "acme"}).json()[
            "name"
        ]
        == "acme"
    )
    envelope(
        c.post("/api/v1/tenants", headers=world.admin, json={"name": "acme"}), 409, "already_exists"
    )
    envelope(
        c.patch(f"/api/v1/tenants/{world.b.id}", headers=world.admin, json={"name": "acme"}), 409
    )
    envelope(
        c.post(
            "/api/v1/users",
            headers=world.admin,
            json={"email": "member@a.example.com", "tenant_id": world.b.id},
        ),
        409,
    )


def test_cursor_pagination_walks_every_row_once(world: World) -> None:
    c = world.client
    for i in range(7):
        c.post("/api/v1/tenants", headers=world.admin, json={"name": f"page-{i}"})
    seen: list[str] = []
    url = "/api/v1/tenants?limit=3"
    while True:
        page = c.get(url, headers=world.admin).json()
        seen += [t["id"] for t in page["items"]]
        if not page["next_cursor"]:
            break
        url = f"/api/v1/tenants?limit=3&cursor={page['next_cursor']}"
    assert len(seen) == len(set(seen)) == 9
    assert seen == sorted(seen, reverse=True)
    envelope(c.get("/api/v1/tenants?cursor=garbage!!", headers=world.admin), 422)
    envelope(c.get("/api/v1/tenants?limit=0", headers=world.admin), 422)


def test_every_mutating_call_is_audited_even_when_refused(world: World) -> None:
    c = world.client
    rid = "audit-probe-1"
    refused = c.post(
        "/api/v1/users",
        headers={**world.a.h("viewer"), "X-Request-ID": rid},
        json={"email": "z@a.example.com"},
    ).json()["error"]
    events = c.get("/api/v1/audit?limit=200", headers=world.admin).json()["items"]
    probe = [e for e in events if e["request_id"] == rid]
    assert probe and probe[0]["outcome"] == "denied" and probe[0]["action"] == "user.create"
    assert probe[0]["actor_email"] == "viewer@a.example.com" and probe[0]["source_ip"]
    # the middleware's row says why, in the words of the answer the caller got
    assert probe[0]["details"]["reason"] == f"{refused['code']}: {refused['message']}"
    bad = c.post("/api/v1/tenants", headers={**world.admin, "X-Request-ID": "audit-probe-2"})
    assert bad.status_code == 422
    events = c.get("/api/v1/audit?limit=200", headers=world.admin).json()["items"]
    invalid = next(e for e in events if e["request_id"] == "audit-probe-2")
    assert invalid["outcome"] == "failure"
    assert invalid["details"]["reason"].startswith("invalid_input: ")
    # tenant admins read their own tenant's audit only
    mine = c.get("/api/v1/audit?limit=200", headers=world.a.h()).json()["items"]
    assert mine and {e["tenant_id"] for e in mine} == {world.a.id}
    fam = c.get("/api/v1/audit?action=user.*&limit=200", headers=world.admin).json()["items"]
    assert fam and all(e["action"].startswith("user.") for e in fam)


def test_openapi_declares_every_status_a_route_can_return(world: World) -> None:
    spec = world.client.get("/api/v1/openapi.json").json()
    assert "ErrorEnvelope" in spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method, op in item.items():
            codes = set(op["responses"])
            where = f"{method.upper()} {path}"
            if op["operationId"] != "auth.login":
                assert "401" in codes, where
            if "{" in path:
                assert "404" in codes, where
            if "requestBody" in op or op.get("parameters"):
                assert "422" in codes, where


def test_health_readiness_and_metrics(world: World) -> None:
    c = world.client
    assert c.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = c.get("/readyz").json()
    assert ready["status"] == "ok" and ready["checks"] == {"database": "ok", "object_store": "ok"}
    text = c.get("/metrics").text
    assert "forgeml_http_requests_total" in text and 'route="/api/v1/tenants"' in text
    assert c.get("/").status_code == 200
    assert "frame-ancestors 'none'" in c.get("/").headers["content-security-policy"]

"""A hostile tenant against quotas and metering: it cannot raise its own limits, nor read or
export another tenant's quota or usage (foreign ids look missing; reports hold its own rows)."""

from __future__ import annotations

from tests.support.usage import insert_usage
from tests.support.world import World

API = "/api/v1"


def b_usage(world: World) -> None:
    insert_usage(world, world.b.id, "b-secret-job", 7.0, {"project": "b-secret"})


def test_a_tenant_cannot_set_its_own_quota(world: World) -> None:
    own = f"{API}/tenants/{world.a.id}/quota"
    for role in ("tenant-admin", "member", "viewer"):
        resp = world.client.patch(own, json={"max_concurrent_jobs": 1000}, headers=world.a.h(role))
        assert resp.status_code == 403, (role, resp.text)
    assert world.client.get(own, headers=world.a.h()).json()["max_concurrent_jobs"] is None
    # nor lift its storage quota through the quota model, nor smuggle unknown fields
    resp = world.client.patch(own, json={"storage_bytes": None}, headers=world.a.h())
    assert resp.status_code == 403
    resp = world.client.patch(own, json={"tenant_id": world.b.id}, headers=world.admin)
    assert resp.status_code == 422


def test_a_tenant_cannot_read_or_export_another_tenants_quota_or_usage(world: World) -> None:
    b_usage(world)
    for path in ("quota", "usage", "usage/csv", "usage?group_by=tag"):
        resp = world.client.get(f"{API}/tenants/{world.b.id}/{path}", headers=world.a.h())
        assert resp.status_code == 404, (path, resp.text)
        assert resp.json()["error"]["code"] == "not_found"
    patch = world.client.patch(
        f"{API}/tenants/{world.b.id}/quota", json={"max_concurrent_jobs": 0}, headers=world.a.h()
    )
    assert patch.status_code == 404
    for path in ("usage", "usage?group_by=tag", "usage?group_by=resource_class", "usage/csv"):
        resp = world.client.get(f"{API}/{path}", headers=world.a.h())
        assert resp.status_code == 200
        assert "b-secret" not in resp.text and world.b.id not in resp.text, path
    # the platform admin does see it: the rows above exist
    assert "b-secret-job" in world.client.get(f"{API}/usage/csv", headers=world.admin).text
    assert world.client.get(f"{API}/usage", headers=world.b.h()).json()["total"] == 7.0

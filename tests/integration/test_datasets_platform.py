"""Platform datasets: admins fill them, grants expose metadata only; no tenant reaches a byte, a
file list or a URL by any route, and every attempt is audited. Also quotas and delete-in-use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from forgeml.db.types import utcnow
from forgeml.domain.errors import Forbidden, NotFound
from tests.support.datasets import API, SAMPLE, commit, create, ok, open_session, put, version_with
from tests.support.world import World


def _denied(w: World) -> list[dict[str, Any]]:
    params = {"action": "platform_dataset.access_denied", "limit": 200}
    return ok(w.client.get(f"{API}/audit", params=params, headers=w.admin))["items"]


def _byte_routes(ds_id: str, up_id: str) -> list[tuple[str, str, Any]]:
    """Every route that could reveal files, bytes or URLs of a dataset."""
    v = f"{API}/datasets/{ds_id}/versions/1"
    u = f"{API}/datasets/{ds_id}/uploads"
    return [
        ("GET", f"{API}/datasets/{ds_id}", None),
        ("GET", f"{API}/datasets/{ds_id}/versions", None),
        ("GET", v, None),
        ("GET", f"{v}/files", None),
        ("GET", f"{v}/manifest", None),
        ("GET", f"{v}/files/data/a.csv", None),
        ("GET", f"{v}/archive", None),
        ("POST", f"{v}/presign", {"path": "data/a.csv"}),
        ("GET", u, None),
        ("GET", f"{u}/{up_id}", None),
        ("POST", u, {"files": []}),
        ("PUT", f"{u}/{up_id}/files/x.csv", None),
        ("PUT", f"{u}/{up_id}/archive", None),
        ("POST", f"{u}/{up_id}/parts", {"path": "x", "size": 1}),
        ("POST", f"{u}/{up_id}/commit", None),
        ("DELETE", f"{u}/{up_id}", None),
        ("PATCH", f"{API}/datasets/{ds_id}", {"description": "pwned"}),
        ("DELETE", f"{API}/datasets/{ds_id}", None),
    ]


def test_granted_tenant_sees_metadata_but_never_bytes(world: World) -> None:
    c, admin = world.client, world.admin
    plat = create(c, admin, "imagenet-mini", kind="platform")
    version_with(c, admin, plat["id"], SAMPLE)
    session = open_session(c, admin, plat["id"])  # an open session too, for the upload routes
    grant = ok(
        c.post(
            f"{API}/grants",
            json={"dataset_id": plat["id"], "tenant_id": world.a.id, "algorithms": ["xgb"]},
            headers=admin,
        ),
        201,
    )
    ha = world.a.h()
    listed = ok(c.get(f"{API}/platform-datasets", headers=ha))["items"]
    assert [d["id"] for d in listed] == [plat["id"]]
    shown = ok(c.get(f"{API}/platform-datasets/{plat['id']}", headers=world.a.h("viewer")))
    assert shown["size_bytes"] == sum(map(len, SAMPLE.values()))
    assert [v["number"] for v in shown["versions"]] == [1]
    assert "README.md" not in str(shown) and "files/" not in str(shown)
    assert ok(c.get(f"{API}/platform-datasets", headers=world.b.h()))["items"] == []
    assert c.get(f"{API}/platform-datasets/{plat['id']}", headers=world.b.h()).status_code == 404

    routes = _byte_routes(plat["id"], session["version"]["id"])
    for role in ("tenant-admin", "member", "viewer"):
        for method, url, body in routes:
            resp = c.request(method, url, json=body, headers=world.a.h(role))
            assert resp.status_code == 404, (role, method, url, resp.text)
            assert resp.json()["error"]["code"] == "not_found"
    denied = _denied(world)
    assert len(denied) == 3 * len(routes)
    assert {e["outcome"] for e in denied} == {"denied"}
    assert {e["target_id"] for e in denied} == {plat["id"]}
    # the admin still sees everything, and revoking removes the tenant's view
    assert c.get(f"{API}/datasets/{plat['id']}/versions/1/files/README.md", headers=admin).content
    ok(c.delete(f"{API}/grants/{grant['id']}", headers=admin))
    assert c.delete(f"{API}/grants/{grant['id']}", headers=ha).status_code == 403
    assert ok(c.get(f"{API}/platform-datasets", headers=ha))["items"] == []


def test_resolve_input_checks_ownership_grants_and_commits(world: World) -> None:
    c, admin, svc = world.client, world.admin, world.services.datasets
    own = create(c, world.a.h(), "own")
    version_with(c, world.a.h(), own["id"], SAMPLE)
    pending = open_session(c, world.a.h(), own["id"], {"z": b"z"})
    plat = create(c, admin, "ref", kind="platform")
    version_with(c, admin, plat["id"], SAMPLE)
    body = {"dataset_id": plat["id"], "tenant_id": world.a.id, "algorithms": ["xgb"]}
    grant = ok(c.post(f"{API}/grants", json=body, headers=admin), 201)
    a, b = world.a.id, world.b.id
    with world.services.db.read() as conn:
        got = svc.resolve_input(conn, a, own["id"], None, "anything")
        assert got.version == 1 and {e.path for e in got.entries} == set(SAMPLE)
        assert all(
            e.object_key.startswith(f"tenants/{a}/datasets/{own['id']}/v1/files/dsf_")
            for e in got.entries
        )
        assert svc.resolve_input(conn, a, plat["id"], 1, "xgb").kind.value == "platform"
        with pytest.raises(Forbidden):
            svc.resolve_input(conn, a, plat["id"], 1, "other-algo")
        with pytest.raises(NotFound):
            svc.resolve_input(conn, b, own["id"], None, "x")  # someone else's dataset
        with pytest.raises(NotFound):
            svc.resolve_input(conn, b, plat["id"], None, "xgb")  # no grant
        with pytest.raises(NotFound):
            svc.resolve_input(conn, a, own["id"], pending["version"]["number"], "x")  # uncommitted
    ok(c.delete(f"{API}/grants/{grant['id']}", headers=admin))
    with world.services.db.read() as conn, pytest.raises(NotFound):  # revoked
        svc.resolve_input(conn, a, plat["id"], 1, "xgb")
    soon = (utcnow() + timedelta(seconds=1)).isoformat()
    ok(c.post(f"{API}/grants", json={**body, "expires_at": soon}, headers=admin), 201)
    from forgeml.db import grants as grants_q

    with world.services.db.read() as conn:
        assert svc.resolve_input(conn, a, plat["id"], 1, "xgb").version == 1
        later = [g.active(utcnow() + timedelta(seconds=5)) for g in grants_q.tenant_grants(conn, a)]
    assert later == [False]  # an expired grant stops counting by itself


def test_quota_refused_before_bytes_and_at_commit(world: World) -> None:
    c, ha = world.client, world.a.h()
    ok(
        c.patch(
            f"{API}/tenants/{world.a.id}", json={"storage_quota_bytes": 100}, headers=world.admin
        )
    )
    ds = create(c, ha, "quota")
    resp = c.post(
        f"{API}/datasets/{ds['id']}/uploads",
        json={"files": [{"path": "big", "size": 101}]},
        headers=ha,
    )
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "quota_exceeded"
    assert list(world.services.store.list("")) == []
    up = open_session(c, ha, ds["id"])
    uid = up["version"]["id"]
    resp = put(c, ha, ds["id"], uid, "too-big.bin", b"x" * 150)  # Content-Length is known
    assert resp.status_code == 403 and list(world.services.store.list("")) == []
    ok(put(c, ha, ds["id"], uid, "a.bin", b"x" * 60))
    other = open_session(c, ha, ds["id"])
    chunked = f"{API}/datasets/{ds['id']}/uploads/{other['version']['id']}/files/b.bin"
    ok(c.put(chunked, content=iter([b"y" * 60]), headers=ha))  # no length: checked at commit
    assert commit(c, ha, ds["id"], uid).status_code == 403
    usage = ok(c.get(f"{API}/datasets/usage", headers=world.a.h("viewer")))
    assert usage == {
        "tenant_id": world.a.id,
        "quota_bytes": 100,
        "used_bytes": 120,
        "committed_bytes": 0,
        "uploading_bytes": 120,
        "checkpoint_bytes": 0,
    }
    ok(c.delete(f"{API}/datasets/{ds['id']}/uploads/{other['version']['id']}", headers=ha))
    assert ok(commit(c, ha, ds["id"], uid))["size_bytes"] == 60
    admin_view = ok(
        c.get(f"{API}/datasets/usage", params={"tenant_id": world.a.id}, headers=world.admin)
    )
    assert admin_view["committed_bytes"] == 60
    events = ok(c.get(f"{API}/audit", params={"action": "quota.exceeded"}, headers=world.admin))
    assert len(events["items"]) == 3


def test_delete_refused_while_in_use_then_removes_objects(world: World) -> None:
    c, ha, svc = world.client, world.a.h(), world.services
    ds = create(c, ha, "busy")
    v = version_with(c, ha, ds["id"], SAMPLE)
    seen: list[list[str]] = []

    def in_use(_conn: Any, ids: list[str]) -> bool:
        seen.append(ids)
        return v["id"] in ids

    svc.datasets.in_use = in_use
    resp = c.delete(f"{API}/datasets/{ds['id']}", headers=ha)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "dataset_in_use"
    assert seen == [[v["id"]]]
    svc.datasets.in_use = lambda _conn, _ids: False
    assert c.delete(f"{API}/datasets/{ds['id']}", headers=ha).status_code == 204
    assert c.get(f"{API}/datasets/{ds['id']}", headers=ha).status_code == 404
    assert list(svc.store.list(f"tenants/{world.a.id}/")) == []

"""The hot read routes (dataset list/get, job list/describe) authenticate in their own worker
thread (`api/deps.LateActor`) and render their JSON once (`api/routing.Rendered`): still a
revoked token or a suspended tenant is refused by the very next request, a missing credential
is a 401 before anything else, and each request hops to a worker thread once.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import pytest

from tests.support.world import World, auth

HOT = ["/api/v1/datasets?limit=20", "/api/v1/training-jobs?limit=20"]


def _hot(world: World) -> list[str]:
    ds = world.client.post("/api/v1/datasets", json={"name": "hot"}, headers=world.a.h("member"))
    assert ds.status_code == 201, ds.text
    return [*HOT, f"/api/v1/datasets/{ds.json()['id']}", "/api/v1/training-jobs/trj_nope"]


def _status(world: World, path: str, headers: dict[str, str]) -> int:
    return world.client.get(path, headers=headers).status_code


def test_a_revoked_token_is_refused_by_the_very_next_request(world: World) -> None:
    paths = _hot(world)
    made = world.client.post(
        "/api/v1/tokens", headers=world.a.h("member"), json={"name": "hot"}
    ).json()
    ok = {p: (404 if p.endswith("trj_nope") else 200) for p in paths}
    assert {p: _status(world, p, auth(made["token"])) for p in paths} == ok
    revoked = world.client.delete(f"/api/v1/tokens/{made['id']}", headers=world.a.h("member"))
    assert revoked.json()["revoked_at"]
    assert {p: _status(world, p, auth(made["token"])) for p in paths} == dict.fromkeys(paths, 401)


def test_a_suspended_tenant_is_refused_by_the_very_next_request(world: World) -> None:
    paths = _hot(world)
    assert _status(world, paths[0], world.a.h("viewer")) == 200
    world.client.post(f"/api/v1/tenants/{world.a.id}/suspend", headers=world.admin)
    for role in ("tenant-admin", "member", "viewer"):
        assert {p: _status(world, p, world.a.h(role)) for p in paths} == dict.fromkeys(paths, 401)
    assert _status(world, paths[0], world.b.h()) == 200  # B is unaffected
    world.client.post(f"/api/v1/tenants/{world.a.id}/resume", headers=world.admin)
    assert _status(world, paths[0], world.a.h("viewer")) == 200


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Basic eDp5"}, {"Authorization": "Bearer "}]
)
def test_no_credential_is_a_401_before_the_query_is_validated(
    world: World, headers: dict[str, str]
) -> None:
    for path in HOT:
        resp = world.client.get(path.replace("limit=20", "limit=0"), headers=headers)
        assert resp.status_code == 401, (path, resp.text)
        assert resp.json()["error"]["code"] == "unauthenticated"
    assert _status(world, HOT[0], auth("fml_not_a_token")) == 401


def test_tenant_a_lists_none_of_tenant_b_s_datasets(world: World) -> None:
    world.client.post("/api/v1/datasets", json={"name": "theirs"}, headers=world.b.h("member"))
    mine = world.client.get(HOT[0], headers=world.a.h("member")).json()
    assert "theirs" not in [d["name"] for d in mine["items"]]
    theirs = world.client.get(HOT[0], headers=world.b.h("member")).json()
    assert [d["name"] for d in theirs["items"]] == ["theirs"]


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every function this process hands to AnyIO's worker threads (FastAPI's sync routes and
    dependencies, response validation of a sync route)."""
    seen: list[Any] = []
    real = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return seen


def test_a_hot_read_hops_to_a_worker_thread_once(world: World, hops: list[Any]) -> None:
    paths = _hot(world)
    for path in paths:
        hops.clear()
        world.client.get(path, headers=world.a.h("member"))
        assert len(hops) == 1, (path, hops)
    hops.clear()
    world.client.get("/api/v1/me", headers=world.a.h("member"))
    assert len(hops) >= 2  # a route on CurrentActor: the dependency, then the route

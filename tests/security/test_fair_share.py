"""A hostile tenant against fair share: it cannot raise its own weight or touch another tenant's
(403 for its own, 404 for a foreign id), and its flood does not starve the others (the claim
order itself: tests/integration/test_fair_share.py)."""

from __future__ import annotations

import pytest

from tests.support.world import World

API = "/api/v1"


@pytest.mark.parametrize("role", ["tenant-admin", "member", "viewer"])
def test_a_tenant_cannot_set_weights_and_another_tenants_id_is_404(world: World, role: str) -> None:
    c, h = world.client, world.a.h(role)
    own = c.patch(f"{API}/tenants/{world.a.id}", json={"weight": 1000}, headers=h)
    assert own.status_code == 403, own.text
    assert own.json()["error"]["code"] == "forbidden"
    other = c.patch(f"{API}/tenants/{world.b.id}", json={"weight": 0.01}, headers=h)
    assert other.status_code == 404, other.text
    weights = [
        c.get(f"{API}/tenants/{t}", headers=world.admin).json()["weight"]
        for t in (world.a.id, world.b.id)
    ]
    assert weights == [1.0, 1.0]


def test_weight_is_not_accepted_where_a_tenant_writes(world: World) -> None:
    """Job submission and profile updates have no weight field: extra fields are refused."""
    c, h = world.client, world.a.h("tenant-admin")
    me = c.patch(f"{API}/users/{world.a.users['member']['id']}", json={"weight": 9}, headers=h)
    assert me.status_code == 422, me.text

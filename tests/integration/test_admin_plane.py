"""With `admin_listen` set, platform admins are refused on the public listener (VPN/bastion only)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from forgeml.main import build_app
from tests.support.world import World


def test_platform_admin_only_on_the_admin_plane(world: World) -> None:
    services = world.services
    services.settings.admin_listen = "127.0.0.1:8081"
    try:
        public = TestClient(build_app(services, "public"))
        admin_plane = TestClient(build_app(services, "admin"))
        refused = public.get("/api/v1/me", headers=world.admin)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "admin_plane_only"
        assert admin_plane.get("/api/v1/me", headers=world.admin).status_code == 200
        # tenant principals keep working on the public plane
        assert public.get("/api/v1/me", headers=world.a.h()).status_code == 200
    finally:
        services.settings.admin_listen = None
    assert world.client.get("/api/v1/me", headers=world.admin).status_code == 200

"""A populated platform for API tests: a platform admin and two tenants with users of every role."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from forgeml.services.container import Services
from forgeml.services.identity.audit import Actor

PASSWORD = "correct-horse-battery"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class TenantWorld:
    tenant: dict[str, Any]
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # role -> user
    tokens: dict[str, str] = field(default_factory=dict)  # role -> token secret
    token_ids: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.tenant["id"])

    def h(self, role: str = "tenant-admin") -> dict[str, str]:
        return auth(self.tokens[role])


@dataclass
class World:
    client: TestClient
    services: Services
    admin_token: str
    admin_user_id: str
    tenants: dict[str, TenantWorld]

    @property
    def admin(self) -> dict[str, str]:
        return auth(self.admin_token)

    @property
    def a(self) -> TenantWorld:
        return self.tenants["a"]

    @property
    def b(self) -> TenantWorld:
        return self.tenants["b"]


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def build_world(client: TestClient, services: Services) -> World:
    boot = services.auth.bootstrap(
        Actor(principal=None, source_ip="test"), "root@example.com", PASSWORD
    )
    assert boot is not None
    admin = auth(boot.token)
    tenants: dict[str, TenantWorld] = {}
    for key in ("a", "b"):
        t = _ok(client.post("/api/v1/tenants", json={"name": f"tenant-{key}"}, headers=admin), 201)
        tw = TenantWorld(tenant=t)
        for role in ("tenant-admin", "member", "viewer"):
            u = _ok(
                client.post(
                    "/api/v1/users",
                    headers=admin,
                    json={
                        "email": f"{role}@{key}.example.com",
                        "role": role,
                        "tenant_id": t["id"],
                        **({"password": PASSWORD} if role == "tenant-admin" else {}),
                    },
                ),
                201,
            )
            tok = _ok(
                client.post(
                    "/api/v1/tokens",
                    headers=admin,
                    json={"name": f"{role}-tok", "user_id": u["id"]},
                ),
                201,
            )
            tw.users[role], tw.tokens[role], tw.token_ids[role] = u, tok["token"], tok["id"]
        tenants[key] = tw
    return World(
        client=client,
        services=services,
        admin_token=boot.token,
        admin_user_id=boot.user.id,
        tenants=tenants,
    )

"""SDK parts for tenant quotas (platform admins set them) and usage reports in money."""

from __future__ import annotations

from typing import Any

from forgeml.client.transport import Transport

API = "/api/v1"
Json = dict[str, Any]


class Quotas:
    def __init__(self, client: Transport) -> None:
        self.c = client

    def get(self, tenant_id: str) -> Json:
        return self.c.call("GET", f"{API}/tenants/{tenant_id}/quota")

    def update(self, tenant_id: str, **changes: Any) -> Json:
        """Change some quotas (the others stay); a value of None lifts that limit."""
        return self.c.call("PATCH", f"{API}/tenants/{tenant_id}/quota", json=changes)


class Usage:
    def __init__(self, client: Transport) -> None:
        self.c = client

    @staticmethod
    def _path(tenant_id: str | None) -> str:
        return f"{API}/tenants/{tenant_id}/usage" if tenant_id else f"{API}/usage"

    def report(
        self, tenant_id: str | None = None, *, month: str | None = None, group_by: str = "month"
    ) -> Json:
        """Sums per month, resource_class, tag or tenant; no tenant: every tenant you see."""
        params = {"group_by": group_by, **({"month": month} if month else {})}
        return self.c.call("GET", self._path(tenant_id), params=params)

    def csv(self, tenant_id: str | None = None, *, month: str | None = None) -> str:
        params = {"month": month} if month else {}
        return self.c.request("GET", self._path(tenant_id) + "/csv", params=params).text

"""The SDK's HTTP plumbing, shared by `Client` and its resources: one httpx client, errors
unpacked from the server's envelope, cursor pages. Resources depend on this, never on `Client`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from forgeml.client.errors import ApiError, error_from

Json = dict[str, Any]


class Transport:
    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": "forgeml-sdk"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.url = url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise ApiError(0, "connection_failed", f"cannot reach {self.url}: {exc}") from exc
        if resp.status_code >= 400:
            raise error_from(resp)
        return resp

    def json(self, method: str, path: str, **kw: Any) -> Any:
        resp = self.request(method, path, **kw)
        return None if resp.status_code == 204 or not resp.content else resp.json()

    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Json]:
        """Iterate over every item of a cursor-paginated list."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        while True:
            page = self.json("GET", path, params=params)
            yield from page["items"]
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

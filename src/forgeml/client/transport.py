"""The SDK's HTTP plumbing, shared by `Client` and its resources: one httpx client, errors
unpacked from the server's envelope, cursor pages. Resources depend on this, never on `Client`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypedDict

import httpx

from forgeml.client.errors import ApiError, error_from

Json = dict[str, Any]


class Options(TypedDict, total=False):
    """How to reach the server, past its URL and token (what `Client` passes on unchanged)."""

    timeout: float
    transport: httpx.BaseTransport | None


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

    def call(self, method: str, path: str, **kw: Any) -> Json:
        """`json()` for the endpoints that answer with one object."""
        data: Json = self.json(method, path, **kw)
        return data

    def send_set(self, method: str, path: str, **fields: Any) -> Json:
        """Send only the fields that are set: None leaves the choice to the server."""
        return self.call(method, path, json={k: v for k, v in fields.items() if v is not None})

    def download(self, path: str, target: Path, **kw: Any) -> Path:
        """Stream the body of a GET into `target` (via `<target>.part`, so a broken download
        never leaves a file that looks complete)."""
        part = target.with_name(target.name + ".part")
        with self.http.stream("GET", path, **kw) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise error_from(resp)
            with part.open("wb") as out:
                for chunk in resp.iter_bytes():
                    out.write(chunk)
        os.replace(part, target)
        return target

    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Json]:
        """Iterate over every item of a cursor-paginated list."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        while True:
            page = self.json("GET", path, params=params)
            yield from page["items"]
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]


def tail(
    transport: Transport, path: str, *, after: int, follow: bool, poll_s: float = 0.5
) -> Iterator[Json]:
    """Items of an `after`/`next_after`/`finished` line route (job logs, build logs); with
    `follow`, keep polling until the route says `finished` and every line came."""
    while True:
        page = transport.json("GET", path, params={"after": after})
        yield from page["items"]
        after = page["next_after"]
        if page["items"]:
            continue
        if not follow or page["finished"]:
            return
        time.sleep(poll_s)


def id_named(items: Iterable[Json], ref: str, what: str, field: str = "name") -> str:
    """The id of the item whose `field` is `ref` (the first one), else a 404 `ApiError`."""
    for item in items:
        if item.get(field) == ref:
            return str(item["id"])
    raise ApiError(404, "not_found", f"{what} {ref!r} not found")

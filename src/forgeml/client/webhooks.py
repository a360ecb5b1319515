"""SDK parts for webhooks, events (catalogue and live SSE stream) and notification preferences."""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

from forgeml.client.errors import error_from
from forgeml.client.transport import Transport

API = "/api/v1"
Json = dict[str, Any]


class Webhooks:
    def __init__(self, client: Transport) -> None:
        self.c = client

    def _url(self, *parts: str) -> str:
        return "/".join([f"{API}/webhooks", *parts])

    def _json(self, method: str, path: str, **kw: Any) -> Json:
        return self.c.call(method, path, **kw)

    def create(
        self,
        url: str,
        events: list[str],
        *,
        description: str = "",
        enabled: bool = True,
        tenant_id: str | None = None,
    ) -> Json:
        """Create a subscription; the response's `secret` is shown only once."""
        body = {"url": url, "events": events, "description": description, "enabled": enabled}
        if tenant_id:
            body["tenant_id"] = tenant_id
        return self._json("POST", self._url(), json=body)

    def list(self) -> list[Json]:
        return list(self.c.pages(self._url()))

    def get(self, webhook_id: str) -> Json:
        return self._json("GET", self._url(webhook_id))

    def update(self, webhook_id: str, **changes: Any) -> Json:
        return self._json("PATCH", self._url(webhook_id), json=changes)

    def delete(self, webhook_id: str) -> None:
        self.c.json("DELETE", self._url(webhook_id))

    def rotate_secret(self, webhook_id: str) -> Json:
        return self._json("POST", self._url(webhook_id, "rotate-secret"))

    def ping(self, webhook_id: str) -> Json:
        return self._json("POST", self._url(webhook_id, "ping"))

    def deliveries(self, webhook_id: str, state: str | None = None) -> builtins.list[Json]:
        return list(self.c.pages(self._url(webhook_id, "deliveries"), {"state": state}))

    def delivery(self, webhook_id: str, delivery_id: str) -> Json:
        return self._json("GET", self._url(webhook_id, "deliveries", delivery_id))

    def redeliver(self, webhook_id: str, delivery_id: str) -> Json:
        return self._json("POST", self._url(webhook_id, "deliveries", delivery_id, "redeliver"))


class Events:
    def __init__(self, client: Transport) -> None:
        self.c = client

    def types(self) -> list[Json]:
        data: list[Json] = self.c.json("GET", f"{API}/events/types")
        return data

    def stream(
        self,
        *,
        types: list[str] | None = None,
        after: int | None = None,
        tenant_id: str | None = None,
        reconnect_s: float = 1.0,
    ) -> Iterator[Json]:
        """Yield event envelopes (with `seq` added) as they happen; resumes after `after`."""
        params: dict[str, Any] = {"types": ",".join(types)} if types else {}
        if tenant_id:
            params["tenant_id"] = tenant_id
        last = after
        while True:  # reconnect after a drop or a server restart, resuming after the last seen
            headers = {"Last-Event-ID": str(last)} if last is not None else {}
            try:
                for seq, env in self._once(params, headers):
                    last = seq
                    yield {"seq": seq, **env}
            except httpx.TransportError:
                pass
            time.sleep(reconnect_s)

    def _once(self, params: Json, headers: dict[str, str]) -> Iterator[tuple[int, Json]]:
        timeout = httpx.Timeout(self.c.http.timeout.connect, read=None)
        with self.c.http.stream(
            "GET", f"{API}/events/stream", params=params, headers=headers, timeout=timeout
        ) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise error_from(resp)
            yield from parse_sse(resp.iter_lines())


def parse_sse(lines: Iterator[str]) -> Iterator[tuple[int, Json]]:
    """Minimal SSE parser: `id:` + `data:` lines, blank line ends an event, `:` comments."""
    seq: int | None = None
    data: list[str] = []
    for line in lines:
        if not line:
            if seq is not None and data:
                yield seq, json.loads("\n".join(data))
            seq, data = None, []
        elif line.startswith("id:"):
            seq = int(line[3:].strip())
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


class NotificationPrefs:
    def __init__(self, client: Transport) -> None:
        self.c = client

    def get(self) -> Json:
        return self.c.call("GET", f"{API}/me/notification-preferences")

    def update(self, **changes: bool) -> Json:
        return self.c.call("PUT", f"{API}/me/notification-preferences", json=changes)

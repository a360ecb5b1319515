"""The Python SDK: a thin, typed httpx client of the REST API.

`Client.from_env()` reads FORGEML_URL + FORGEML_TOKEN, else the saved profile. Pass an httpx
transport (e.g. `httpx.ASGITransport(app)` or `httpx.MockTransport`) to test without a socket.
"""

from __future__ import annotations

import os
from typing import Any, TypedDict, Unpack

from forgeml.client import profiles
from forgeml.client.algorithms import Algorithms
from forgeml.client.checkpoints import CheckpointLocations
from forgeml.client.datasets import Datasets, Grants, PlatformDatasets
from forgeml.client.errors import ApiError, NotConfigured
from forgeml.client.jobs import Jobs
from forgeml.client.transport import Json, Options, Transport
from forgeml.client.usage import Quotas, Usage
from forgeml.client.webhooks import Events, NotificationPrefs, Webhooks
from forgeml.domain.ids import looks_like_id

API = "/api/v1"


class Client(Transport):
    def __init__(self, url: str, token: str | None = None, **options: Unpack[Options]) -> None:
        super().__init__(url, token, **options)
        self.tenants = _Tenants(self)
        self.users = _Users(self)
        self.tokens = _Tokens(self)
        self.audit = _Audit(self)
        self.datasets = Datasets(self)
        self.platform_datasets = PlatformDatasets(self)
        self.grants = Grants(self)
        self.webhooks = Webhooks(self)
        self.checkpoints = CheckpointLocations(self)
        self.events = Events(self)
        self.notification_prefs = NotificationPrefs(self)
        self.algorithms = Algorithms(self)
        self.jobs = Jobs(self)
        self.quotas = Quotas(self)
        self.usage = Usage(self)

    @classmethod
    def from_env(cls, profile: str | None = None, **kw: Any) -> Client:
        """FORGEML_URL/FORGEML_TOKEN win over the saved profile; the URL of the local
        `forgeml up` (its home's server.json) is the last resort."""
        url, token = os.environ.get("FORGEML_URL"), os.environ.get("FORGEML_TOKEN")
        if not (url and token):
            saved = profiles.get(profile)
            if saved is not None:
                url, token = url or saved.url, token or saved.token
            url = url or profiles.server_url()
            if not url:
                raise NotConfigured(
                    "no server configured: start one with `forgeml up`, or set FORGEML_URL "
                    "and FORGEML_TOKEN, or run `forgeml login`"
                )
            if not token and not os.environ.get("FORGEML_URL"):
                raise NotConfigured(f"not logged in to {url}: run `forgeml login`")
        return cls(url, token, **kw)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- identity ---------------------------------------------------------------------------

    def login(self, email: str, password: str, token_name: str = "cli") -> Json:
        """Log in with a password and return `{"user", "token"}` (a new API token)."""
        body = {"email": email, "password": password, "mode": "token", "token_name": token_name}
        data: Json = self.json("POST", f"{API}/auth/login", json=body)
        self.http.headers["Authorization"] = f"Bearer {data['token']}"
        return data

    def me(self) -> Json:
        return self.call("GET", f"{API}/me")

    def health(self) -> Json:
        return self.call("GET", "/healthz")

    def ready(self) -> Json:
        resp = self.http.get("/readyz")
        data: Json = resp.json()
        return data


class _Resource:
    path = ""

    def __init__(self, client: Transport) -> None:
        self.c = client

    def _url(self, *parts: str) -> str:
        return "/".join([f"{API}{self.path}", *parts])

    def get(self, obj_id: str) -> Json:
        return self.c.call("GET", self._url(obj_id))

    def list(self, **filters: Any) -> list[Json]:
        return list(self.c.pages(self._url(), filters))

    def _find(self, ref: str, prefix: str, field: str, what: str) -> str:
        """An id as given, or the id of the one object whose `field` equals `ref`."""
        if ref.startswith(prefix) and looks_like_id(ref):
            return ref
        for item in self.c.pages(self._url()):
            if str(item.get(field, "")).lower() == ref.lower():
                return str(item["id"])
        raise ApiError(404, "not_found", f"{what} {ref!r} not found")


class _Tenants(_Resource):
    path = "/tenants"

    def resolve(self, ref: str) -> str:
        """A tenant id, or the id of the tenant with this name."""
        return self._find(ref, "tnt_", "name", "tenant")

    def create(
        self, name: str, display_name: str | None = None, storage_quota_bytes: int | None = None
    ) -> Json:
        fields = {"display_name": display_name, "storage_quota_bytes": storage_quota_bytes}
        return self.c.send_set("POST", self._url(), name=name, **fields)

    def update(self, tenant_id: str, **changes: Any) -> Json:
        return self.c.call("PATCH", self._url(tenant_id), json=changes)

    def suspend(self, tenant_id: str) -> Json:
        return self.c.call("POST", self._url(tenant_id, "suspend"))

    def resume(self, tenant_id: str) -> Json:
        return self.c.call("POST", self._url(tenant_id, "resume"))


class _NewUser(TypedDict, total=False):
    name: str | None
    password: str | None
    tenant_id: str | None


class _Users(_Resource):
    path = "/users"

    def resolve(self, ref: str) -> str:
        """A user id, or the id of the user with this e-mail."""
        return self._find(ref, "usr_", "email", "user")

    def create(self, email: str, *, role: str = "member", **fields: Unpack[_NewUser]) -> Json:
        """A user; the fields left out (or None) are the server's defaults."""
        return self.c.send_set("POST", self._url(), email=email, role=role, **fields)

    def update(self, user_id: str, **changes: Any) -> Json:
        return self.c.call("PATCH", self._url(user_id), json=changes)

    def delete(self, user_id: str) -> None:
        self.c.json("DELETE", self._url(user_id))


class _NewToken(TypedDict, total=False):
    scopes: list[str] | None
    expires_in_days: int | None
    user_id: str | None


class _Tokens(_Resource):
    path = "/tokens"

    def create(self, name: str, **fields: Unpack[_NewToken]) -> Json:
        """A token (for another user with `user_id`, admins); its secret is in the answer once."""
        return self.c.send_set("POST", self._url(), name=name, **fields)

    def revoke(self, token_id: str) -> Json:
        return self.c.call("DELETE", self._url(token_id))


class _Audit(_Resource):
    path = "/audit"

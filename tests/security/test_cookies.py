"""Session cookies get `Secure` when the request is https, and `X-Forwarded-Proto` /
`X-Forwarded-For` count only from the proxies in `server.trusted_proxies` (issue 10 item 7).
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from forgeml.config import ServerSettings, Settings
from forgeml.main import build_app
from forgeml.services.container import Services
from tests.support.world import PASSWORD, World

PROXY = "10.20.30.40"
STRANGER = "192.0.2.77"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
EMAIL = "tenant-admin@a.example.com"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    proxies = ServerSettings(trusted_proxies=["10.20.0.0/16", "::1"])
    return settings.model_copy(update={"server": proxies})


def _client(services: Services, peer: str, base_url: str = "http://testserver") -> TestClient:
    return TestClient(build_app(services), client=(peer, 40000), base_url=base_url)


def _session_cookie(resp: object) -> str:
    headers = resp.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    found = [h for h in headers if h.startswith("forgeml_session=")]
    assert len(found) == 1, headers
    return str(found[0])


def _secure(cookie: str) -> bool:
    return re.search(r";\s*secure(;|$)", cookie, re.IGNORECASE) is not None


def _api_login(c: TestClient, headers: dict[str, str]) -> str:
    resp = c.post(
        "/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}, headers=headers
    )
    assert resp.status_code == 200, resp.text
    return _session_cookie(resp)


def _portal_login(c: TestClient, headers: dict[str, str]) -> str:
    page = c.get("/login", headers=headers)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    form = {"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1), "next": "/"}
    # Sent by hand: the client would withhold a Secure cookie from this plain-http test hop.
    cookie = {"Cookie": f"forgeml_login_csrf={page.cookies.get('forgeml_login_csrf')}"}
    c.cookies.clear()
    resp = c.post("/login", data=form, headers=headers | cookie, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    return _session_cookie(resp)


@pytest.mark.parametrize("login", [_api_login, _portal_login], ids=["api", "portal"])
def test_https_behind_a_trusted_proxy_gets_secure_cookies(world: World, login: object) -> None:
    with _client(world.services, PROXY) as c:
        assert _secure(login(c, FORWARDED))  # type: ignore[operator]
    with _client(world.services, PROXY) as c:  # the proxy says the client spoke plain http
        assert not _secure(login(c, {"X-Forwarded-Proto": "http"}))  # type: ignore[operator]


@pytest.mark.parametrize("login", [_api_login, _portal_login], ids=["api", "portal"])
def test_forwarded_headers_from_an_untrusted_peer_are_ignored(world: World, login: object) -> None:
    with _client(world.services, STRANGER) as c:
        assert not _secure(login(c, FORWARDED))  # type: ignore[operator]


def test_direct_https_gets_secure_cookies(world: World) -> None:
    with _client(world.services, STRANGER, base_url="https://testserver") as c:
        assert _secure(_api_login(c, {}))


def test_audit_records_the_client_behind_a_trusted_proxy_only(world: World) -> None:
    for peer in (PROXY, STRANGER):
        with _client(world.services, peer) as c:
            resp = c.post(
                "/api/v1/auth/login",
                json={"email": EMAIL, "password": "wrong-password!"},
                headers=FORWARDED,
            )
            assert resp.status_code == 401
    rows = world.client.get(
        "/api/v1/audit?action=auth.login&outcome=failure", headers=world.admin
    ).json()["items"]
    ips = {r["source_ip"] for r in rows}
    assert "203.0.113.9" in ips and STRANGER in ips
    assert PROXY not in ips


@pytest.mark.parametrize("bad", ["*", "proxy.example.com", "10.0.0.0/33", ""])
def test_trusted_proxies_accept_only_addresses(bad: str) -> None:
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(server={"trusted_proxies": [bad]})

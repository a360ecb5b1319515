"""Portal pages through the ASGI app on both databases: sign-in, CSRF on forms, the HTML 404 page
(also for another tenant's objects), and that the API's own errors are unchanged."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.support.world import PASSWORD, World

HTML = {"accept": "text/html,application/xhtml+xml"}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def sign_in(client: TestClient, email: str, next_url: str = "/") -> TestClient:
    page = client.get("/login", headers=HTML)
    r = client.post(
        "/login",
        data={
            "email": email,
            "password": PASSWORD,
            "next": next_url,
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


def test_pages_need_a_session_and_sign_in_returns_to_the_page(world: World) -> None:
    c = world.client
    r = c.get("/jobs", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/jobs"
    page = c.get("/login", headers=HTML)
    r = c.post(
        "/login",
        data={"email": "tenant-admin@a.example.com", "password": PASSWORD, "next": "/jobs",
              "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/jobs"
    assert "forgeml_session" in r.cookies
    assert (
        "Tenant-a" in c.get("/", headers=HTML).text or c.get("/", headers=HTML).status_code == 200
    )


@pytest.mark.parametrize("target", ["//evil.example.com/x", "https://evil.example.com/", "/\\evil"])
def test_sign_in_never_redirects_off_site(world: World, target: str) -> None:
    page = world.client.get("/login", headers=HTML)
    r = world.client.post(
        "/login",
        data={"email": "tenant-admin@a.example.com", "password": PASSWORD, "next": target,
              "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_sign_in_form_without_its_csrf_token_is_refused(world: World) -> None:
    world.client.get("/login", headers=HTML)
    r = world.client.post(
        "/login",
        data={"email": "tenant-admin@a.example.com", "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert r.status_code == 403 and "forgeml_session" not in r.cookies


def test_wrong_password_shows_the_form_again(world: World) -> None:
    page = world.client.get("/login", headers=HTML)
    r = world.client.post(
        "/login",
        data={"email": "tenant-admin@a.example.com", "password": "wrong-password-here",
              "csrf_token": csrf_of(page.text)},
    )  # fmt: skip
    assert r.status_code == 401 and "Wrong e-mail or password" in r.text


def test_every_form_post_checks_the_session_csrf_token(world: World) -> None:
    c = sign_in(world.client, "tenant-admin@a.example.com")
    settings = c.get("/settings", headers=HTML)
    assert settings.status_code == 200
    for token in ("", "not-the-token"):
        r = c.post("/settings/tokens", data={"name": "x", "csrf_token": token}, headers=HTML)
        assert r.status_code == 403 and "CSRF" in r.text
    assert "<td>x</td>" not in c.get("/settings", headers=HTML).text
    r = c.post("/settings/tokens", data={"name": "nb", "csrf_token": csrf_of(settings.text)})
    assert r.status_code == 200 and "fml_" in r.text  # the secret, shown once


def test_another_tenants_dataset_page_is_the_html_404(world: World) -> None:
    ds = world.client.post("/api/v1/datasets", json={"name": "secret-a"}, headers=world.a.h())
    assert ds.status_code == 201, ds.text
    c = sign_in(world.client, "tenant-admin@b.example.com")
    for path in (f"/datasets/{ds.json()['id']}", f"/datasets/{ds.json()['id']}/versions/1"):
        r = c.get(path, headers=HTML)
        assert r.status_code == 404 and "Page not found" in r.text and "secret-a" not in r.text
    own = c.get("/datasets", headers=HTML)
    assert own.status_code == 200 and "secret-a" not in own.text


def test_html_404_for_browsers_and_api_errors_unchanged(client: TestClient, world: World) -> None:
    r = client.get("/no/such/page", headers=HTML)
    assert r.status_code == 404 and "Page not found" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    api = client.get("/api/v1/no-such-thing", headers=HTML)
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    plain = client.get("/no/such/page")
    assert plain.status_code == 404 and plain.json()["error"]["code"] == "not_found"
    assert client.put("/api/v1/me", headers=world.admin).status_code == 405
    css = client.get("/static/portal.css")
    assert (
        css.status_code == 200
        and "frame-ancestors 'none'" in css.headers["content-security-policy"]
    )


def test_tenant_pages_refuse_platform_admin_pages(world: World) -> None:
    c = sign_in(world.client, "tenant-admin@a.example.com")
    for path in ("/admin/tenants", "/admin/users", "/admin/audit"):
        assert c.get(path, headers=HTML).status_code == 403

"""Authentication: tokens, sessions with CSRF, throttling, suspension, expiry and revocation."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from forgeml.db.tables import api_tokens
from forgeml.db.types import utcnow
from tests.support.world import PASSWORD, World, auth


def login(c: TestClient, email: str, password: str = PASSWORD, mode: str = "session"):  # type: ignore[no-untyped-def]
    return c.post("/api/v1/auth/login", json={"email": email, "password": password, "mode": mode})


def test_session_login_sets_httponly_samesite_cookie_and_csrf(world: World) -> None:
    c = world.client
    resp = login(c, "tenant-admin@a.example.com")
    assert resp.status_code == 200, resp.text
    cookie = resp.headers["set-cookie"]
    assert "forgeml_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    csrf = resp.json()["csrf_token"]
    me = c.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["via"] == "session"
    # a mutating call with the cookie but without the CSRF token is refused
    no_csrf = c.post("/api/v1/tokens", json={"name": "x"})
    assert no_csrf.status_code == 403 and no_csrf.json()["error"]["code"] == "csrf_failed"
    ok = c.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    assert c.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    c.cookies.clear()
    c.cookies.set("forgeml_session", cookie.split("forgeml_session=")[1].split(";")[0])
    assert c.get("/api/v1/me").status_code == 401  # the session is revoked server-side


def test_token_login_returns_a_working_token(world: World) -> None:
    resp = login(world.client, "tenant-admin@a.example.com", mode="token")
    token = resp.json()["token"]
    assert token.startswith("fml_")
    me = world.client.get("/api/v1/me", headers=auth(token)).json()
    assert me["user"]["email"] == "tenant-admin@a.example.com" and me["via"] == "token"


def test_bad_credentials_all_look_the_same(world: World) -> None:
    c = world.client
    wrong_pw = login(c, "tenant-admin@a.example.com", "wrong-password!")
    no_user = login(c, "nobody@a.example.com", "wrong-password!")
    for resp in (wrong_pw, no_user):
        assert resp.status_code == 401
        assert resp.json()["error"] == {
            "code": "unauthenticated",
            "message": "invalid or missing credentials",
            "details": {},
        }
    for header in ("Bearer fml_nope_nope", "Basic abc", "Bearer", "bearer  "):
        r = c.get("/api/v1/me", headers={"Authorization": header})
        assert (
            r.status_code == 401
            and r.json()["error"]["message"] == "invalid or missing credentials"
        )


def test_login_is_throttled_after_repeated_failures(world: World) -> None:
    c = world.client
    for _ in range(5):
        assert login(c, "tenant-admin@a.example.com", "wrong-password!").status_code == 401
    blocked = login(c, "tenant-admin@a.example.com")  # even the right password is refused now
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    assert blocked.json()["error"]["code"] == "too_many_requests"
    audit = c.get("/api/v1/audit?action=auth.login&outcome=failure", headers=world.admin).json()[
        "items"
    ]
    assert len(audit) >= 5


def test_suspended_tenant_credentials_stop_working(world: World) -> None:
    c = world.client
    assert c.get("/api/v1/me", headers=world.a.h("member")).status_code == 200
    assert (
        c.post(f"/api/v1/tenants/{world.a.id}/suspend", headers=world.admin).json()["status"]
        == "suspended"
    )
    for role in ("tenant-admin", "member", "viewer"):
        assert c.get("/api/v1/me", headers=world.a.h(role)).status_code == 401
    assert login(c, "tenant-admin@a.example.com").status_code == 401
    assert c.get("/api/v1/me", headers=world.b.h()).status_code == 200  # B is unaffected
    c.post(f"/api/v1/tenants/{world.a.id}/resume", headers=world.admin)
    assert c.get("/api/v1/me", headers=world.a.h("member")).status_code == 200


def test_revoked_and_expired_tokens_are_refused(world: World) -> None:
    c = world.client
    made = c.post("/api/v1/tokens", headers=world.a.h("member"), json={"name": "short"}).json()
    secret = made["token"]
    assert made["prefix"] and secret.startswith(made["prefix"] + "_")
    assert c.get("/api/v1/me", headers=auth(secret)).status_code == 200
    assert c.delete(f"/api/v1/tokens/{made['id']}", headers=world.a.h("member")).json()[
        "revoked_at"
    ]
    assert c.get("/api/v1/me", headers=auth(secret)).status_code == 401
    other = c.post("/api/v1/tokens", headers=world.a.h("member"), json={"name": "exp"}).json()
    with world.services.db.write() as conn:
        conn.execute(
            sa.update(api_tokens)
            .where(api_tokens.c.id == other["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert c.get("/api/v1/me", headers=auth(other["token"])).status_code == 401


def test_token_secret_is_stored_only_as_hash_and_last_used_is_tracked(world: World) -> None:
    c = world.client
    made = c.post("/api/v1/tokens", headers=world.a.h("member"), json={"name": "h"}).json()
    with world.services.db.read() as conn:
        row = (
            conn.execute(sa.select(api_tokens).where(api_tokens.c.id == made["id"]))
            .mappings()
            .one()
        )
    assert made["token"] not in str(dict(row)) and len(row["token_hash"]) == 64
    c.get("/api/v1/me", headers=auth(made["token"]))
    assert c.get(f"/api/v1/tokens/{made['id']}", headers=world.a.h("member")).json()["last_used_at"]
    assert "token" not in c.get(f"/api/v1/tokens/{made['id']}", headers=world.a.h("member")).json()


def test_read_scoped_token_cannot_write(world: World) -> None:
    c = world.client
    ro = c.post(
        "/api/v1/tokens", headers=world.a.h(), json={"name": "ro", "scopes": ["read"]}
    ).json()
    assert c.get("/api/v1/users", headers=auth(ro["token"])).status_code == 200
    resp = c.post("/api/v1/users", headers=auth(ro["token"]), json={"email": "n@a.example.com"})
    assert resp.status_code == 403
    # nor mint itself a stronger token
    assert (
        c.post("/api/v1/tokens", headers=auth(ro["token"]), json={"name": "rw"}).status_code == 403
    )

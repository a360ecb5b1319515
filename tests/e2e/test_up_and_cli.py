"""End to end: `forgeml up` as a real process, and the CLI talking to it through the SDK."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from tests.support.server import FORGEML, Server, cli, free_port, start, stop

__all__ = ["FORGEML", "Server", "cli", "free_port", "start", "stop"]


def test_up_prints_credentials_serves_and_stops_cleanly(
    server: Server, env: dict[str, str]
) -> None:
    info = server.info
    assert info["admin_created"] is True and info["token"].startswith("fml_")
    cred = server.home / "admin-credentials.txt"
    assert stat.S_IMODE(cred.stat().st_mode) == 0o600 and info["token"] in cred.read_text()
    assert httpx.get(f"{server.url}/readyz").json()["status"] == "ok"
    me = httpx.get(
        f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {info['token']}"}
    ).json()
    assert me["user"]["role"] == "platform-admin"
    assert stop(server) == 0
    # a second start reuses everything: no new admin, the old token still works
    again = start(server.home, free_port(), env)
    try:
        assert again.info["admin_created"] is False and "token" not in again.info
        r = httpx.get(
            f"{again.url}/api/v1/me", headers={"Authorization": f"Bearer {info['token']}"}
        )
        assert r.status_code == 200
    finally:
        assert stop(again) == 0


def test_cli_verbs_through_the_sdk(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    admin = {**env, "FORGEML_URL": server.url, "FORGEML_TOKEN": server.info["token"]}
    assert cli(admin, "whoami")["user"]["role"] == "platform-admin"
    tenant = cli(admin, "tenant", "create", "acme", "--display-name", "ACME Corp")
    assert tenant["name"] == "acme"
    err = cli(admin, "tenant", "create", "acme", ok=False)
    assert err["error"]["code"] == "already_exists"
    user = cli(
        {**admin, "FORGEML_NEW_PASSWORD": "a-good-password"},
        "user",
        "create",
        "bob@acme.example.com",
        "--tenant",
        tenant["id"],
        "--role",
        "tenant-admin",
    )
    assert user["tenant_id"] == tenant["id"]
    assert [t["name"] for t in cli(admin, "tenant", "ls")] == ["acme"]
    # a tenant user logs in; the profile file is private and later commands use it
    login = cli(
        {**env, "FORGEML_PASSWORD": "a-good-password"},
        "login",
        "--url",
        server.url,
        "--email",
        "bob@acme.example.com",
    )
    assert stat.S_IMODE(Path(login["saved_to"]).stat().st_mode) == 0o600
    assert cli(env, "whoami")["user"]["email"] == "bob@acme.example.com"
    tok = cli(env, "token", "create", "ci", "--scope", "read")
    assert tok["token"].startswith("fml_") and tok["scopes"] == ["read"]
    assert cli(env, "token", "revoke", tok["id"])["revoked_at"]
    assert cli(env, "tenant", "suspend", tenant["id"], ok=False)["error"]["code"] == "forbidden"
    assert cli(env, "user", "ls")[0]["email"] == "bob@acme.example.com"
    assert any(e["action"] == "token.revoke" for e in cli(env, "audit", "ls"))
    cli(env, "logout")
    assert cli(env, "whoami", ok=False)["error"]["code"] == "not_configured"
    shown = cli(
        {**env, "FORGEML_S3__SECRET_ACCESS_KEY": "hunter2"},
        "config",
        "show",
        "--home",
        str(server.home),
    )
    assert shown["s3"]["secret_access_key"] == "********"


def test_cli_fails_clearly_without_a_server(env: dict[str, str]) -> None:
    bad = {**env, "FORGEML_URL": f"http://127.0.0.1:{free_port()}", "FORGEML_TOKEN": "fml_x_y"}
    err = cli(bad, "whoami", ok=False)
    assert err["error"]["code"] == "connection_failed"


def test_migrate_and_bootstrap_commands(tmp_path: Path, env: dict[str, str]) -> None:
    home = str(tmp_path / "h2")
    assert cli(env, "migrate", "--home", home)["to"] is not None
    first = cli(env, "admin", "bootstrap", "--home", home, "--email", "ops@example.com")
    assert first["token"].startswith("fml_") and first["email"] == "ops@example.com"
    again = cli(env, "admin", "bootstrap", "--home", home, ok=False)
    assert again["error"]["code"] == "already_exists"

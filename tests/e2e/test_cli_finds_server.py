"""The CLI finds the local `forgeml up`, accepts names, guards profiles; the home is private."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.support.server import Server, cli


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_home_and_its_secrets_are_private(server: Server) -> None:
    assert _mode(server.home) == 0o700
    for name in ("forgeml.db", "admin-credentials.txt", "server.json"):
        assert _mode(server.home / name) == 0o600, name


def test_verbs_find_the_server_of_the_home_and_take_names(
    server: Server, env: dict[str, str]
) -> None:
    # no FORGEML_URL anywhere: the URL comes from the home `forgeml up` wrote it into
    admin = {**env, "FORGEML_TOKEN": server.info["token"]}
    assert cli(admin, "whoami")["user"]["role"] == "platform-admin"
    tenant = cli(admin, "tenant", "create", "acme")
    user = cli(
        {**admin, "FORGEML_NEW_PASSWORD": "a-long-password"},
        *("user", "create", "ann@acme.example", "--tenant", "acme", "--role", "tenant-admin"),
    )
    assert user["tenant_id"] == tenant["id"]
    assert cli(admin, "tenant", "show", "acme")["id"] == tenant["id"]
    assert cli(admin, "user", "show", "ann@acme.example")["id"] == user["id"]
    missing = cli(admin, "tenant", "show", "nobody", ok=False)
    assert missing["error"]["code"] == "not_found"


def test_login_refuses_while_a_token_in_the_environment_would_win(
    server: Server, env: dict[str, str]
) -> None:
    admin = {**env, "FORGEML_TOKEN": server.info["token"], "FORGEML_PASSWORD": "x" * 12}
    err = cli(admin, "login", "--email", server.info["email"], ok=False)
    assert err["error"]["code"] == "token_in_environment"
    # without it the login works against the discovered server and names the profile
    ok = {**env, "FORGEML_PASSWORD": server.info["password"]}
    first = cli(ok, "login", "--email", server.info["email"])
    assert first["profile"] == server.info["email"]
    cli(
        {**env, "FORGEML_TOKEN": server.info["token"], "FORGEML_NEW_PASSWORD": "b" * 12},
        *("user", "create", "ops@forgeml.local", "--role", "platform-admin"),
    )
    # a named profile that belongs to someone else is not silently overwritten
    other = {**env, "FORGEML_PASSWORD": "b" * 12}
    taken = cli(
        other, "login", "--email", "ops@forgeml.local", "--profile", first["profile"], ok=False
    )
    assert taken["error"]["code"] == "profile_in_use"
    second = cli(other, "login", "--email", "ops@forgeml.local")
    assert second["previous_profile"] == server.info["email"]
    assert cli(env, "whoami")["user"]["email"] == "ops@forgeml.local"
    cli(env, "profile", "use", server.info["email"])
    assert cli(env, "whoami")["user"]["email"] == server.info["email"]

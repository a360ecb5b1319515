"""Fast unit tests of pure pieces: ids, cursors, the permission table, settings, secrets."""

from __future__ import annotations

import time

import pytest

from forgeml.config import Settings, mask_url
from forgeml.db.pagination import decode_cursor, encode_cursor
from forgeml.domain.authz import ROLE_PERMS, Perm, allowed
from forgeml.domain.errors import InvalidInput
from forgeml.domain.identity import Principal, Role, TokenScope, check_tenant_name, normalize_email
from forgeml.domain.ids import looks_like_id, new_id
from forgeml.services.identity.secrets import (
    hash_password,
    hash_token,
    new_api_token,
    verify_password,
)


def test_ids_are_prefixed_unique_and_time_ordered() -> None:
    first = new_id("tnt")
    time.sleep(0.002)
    ids = [new_id("tnt") for _ in range(1000)]
    assert len(set(ids)) == 1000 and all(looks_like_id(i) for i in ids)
    assert all(first < i for i in ids)
    assert not looks_like_id("tnt_../../etc") and not looks_like_id("x")


def test_cursor_round_trip_and_garbage() -> None:
    assert decode_cursor(encode_cursor("usr_abc")) == "usr_abc"
    for bad in ("", "!!!", "eyJ4IjoxfQ", "bm90IGpzb24"):
        with pytest.raises(InvalidInput):
            decode_cursor(bad)


def p(role: Role, scopes: set[TokenScope] | None = None) -> Principal:
    return Principal(
        user_id="u",
        email="e",
        role=role,
        tenant_id=None if role is Role.PLATFORM_ADMIN else "t",
        via="token",
        scopes=frozenset(scopes or {TokenScope.READ, TokenScope.WRITE}),
    )


@pytest.mark.parametrize(
    ("role", "perm", "expected"),
    [
        (Role.VIEWER, Perm.DATA_READ, True),
        (Role.VIEWER, Perm.DATA_WRITE, False),
        (Role.VIEWER, Perm.USERS_MANAGE, False),
        (Role.MEMBER, Perm.JOBS_WRITE, True),
        (Role.MEMBER, Perm.USERS_READ, False),
        (Role.TENANT_ADMIN, Perm.USERS_MANAGE, True),
        (Role.TENANT_ADMIN, Perm.TENANTS_MANAGE, False),
        (Role.TENANT_ADMIN, Perm.PLATFORM_MANAGE, False),
        (Role.PLATFORM_ADMIN, Perm.PLATFORM_MANAGE, True),
    ],
)
def test_permission_table(role: Role, perm: Perm, expected: bool) -> None:
    assert allowed(p(role), perm) is expected


def test_read_scope_allows_only_reads() -> None:
    ro = p(Role.TENANT_ADMIN, {TokenScope.READ})
    assert allowed(ro, Perm.USERS_READ) and not allowed(ro, Perm.USERS_MANAGE)
    assert ROLE_PERMS[Role.PLATFORM_ADMIN] == frozenset(Perm)


def test_names_and_emails() -> None:
    assert check_tenant_name("acme-1") == "acme-1"
    for bad in ("", "-a", "a-", "A", "a_b", "a" * 64, "a\x00"):
        with pytest.raises(InvalidInput):
            check_tenant_name(bad)
    assert normalize_email("  Bob@Example.COM ") == "Bob@example.com"
    for bad in ("bob", "bob@", "@x.com", "a b@x.com", "a@x"):
        with pytest.raises(InvalidInput):
            normalize_email(bad)


def test_secrets() -> None:
    token, prefix, digest = new_api_token()
    assert token.startswith(prefix + "_") and hash_token(token) == digest and token not in digest
    h = hash_password("a long password")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "a long password") and not verify_password(h, "wrong")
    assert not verify_password(None, "anything")


def test_settings_env_nesting_toml_and_masking(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "forgeml.toml").write_text(
        'executor = "local"\nlisten = "127.0.0.1:9999"\n[s3]\nregion = "eu-1"\n'
    )
    monkeypatch.setenv("FORGEML_CONFIG_FILE", str(tmp_path / "forgeml.toml"))
    monkeypatch.setenv("FORGEML_S3__SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("FORGEML_DATABASE_URL", "postgresql+psycopg://u:pw@h/db")
    s = Settings(home=tmp_path)
    assert s.listen == "127.0.0.1:9999" and s.s3.region == "eu-1"
    shown = s.masked()
    assert "hunter2" not in str(shown) and "pw@" not in str(shown)
    assert s.storage_url == f"file://{tmp_path / 'objects'}"
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"

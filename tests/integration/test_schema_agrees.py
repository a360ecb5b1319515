"""The OpenAPI schema and the behaviour agree (what schemathesis `--checks all` found): malformed
JSON is the documented 422 envelope, 405 says Allow, password rules are in the schema, `null`
and numbers are refused where the schema does not allow them.
"""

from __future__ import annotations

from typing import Any

from forgeml.domain.identity import PASSWORD_MAX_LEN, PASSWORD_MIN_LEN
from tests.support.world import World

API = "/api/v1"


def _invalid(resp: Any, loc: str) -> None:
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["code"] == "invalid_input"
    locs = [p["loc"] for p in err["details"]["errors"]]
    assert any(x == loc or x.startswith(f"{loc}.") for x in locs), err


def test_malformed_json_is_the_422_envelope_and_405_says_allow(world: World) -> None:
    c, h = world.client, world.a.h()
    bad = c.post(
        f"{API}/datasets", content=b"{bad", headers={**h, "content-type": "application/json"}
    )
    _invalid(bad, "body")
    wrong = c.delete(f"{API}/datasets", headers=h)
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["allow"]


def test_user_update_refuses_null_and_non_booleans_that_the_schema_refuses(world: World) -> None:
    c, h = world.client, world.a.h()
    uid = world.a.users["member"]["id"]
    for field, value in (("role", None), ("name", None), ("disabled", None), ("disabled", 0)):
        _invalid(c.patch(f"{API}/users/{uid}", json={field: value}, headers=h), field)
    same = c.get(f"{API}/users/{uid}", headers=h).json()
    assert same["role"] == "member" and same["disabled"] is False
    ok = c.patch(f"{API}/users/{uid}", json={"disabled": True}, headers=h)
    assert ok.status_code == 200 and ok.json()["disabled"] is True


def test_password_rules_are_in_the_schema_and_enforced_the_same(world: World) -> None:
    schemas = world.client.get(f"{API}/openapi.json").json()["components"]["schemas"]
    for model in ("UserCreate", "UserUpdate"):
        pw = schemas[model]["properties"]["password"]
        text = str(pw)
        assert f"'minLength': {PASSWORD_MIN_LEN}" in text, pw
        assert f"'maxLength': {PASSWORD_MAX_LEN}" in text, pw
    role = schemas["UserUpdate"]["properties"]["role"]
    assert "null" not in str(role), role
    c, h = world.client, world.a.h()
    uid = world.a.users["member"]["id"]
    short = "x" * (PASSWORD_MIN_LEN - 1)
    _invalid(c.patch(f"{API}/users/{uid}", json={"password": short}, headers=h), "password")
    fine = "y" * PASSWORD_MIN_LEN
    assert c.patch(f"{API}/users/{uid}", json={"password": fine}, headers=h).status_code == 200


def test_date_time_filters_refuse_epoch_numbers(world: World) -> None:
    c = world.client
    for value in ("1.5", "1700000000", "-3"):
        _invalid(c.get(f"{API}/audit", params={"since": value}, headers=world.admin), "query.since")
        jobs = c.get(f"{API}/training-jobs", params={"created_after": value}, headers=world.a.h())
        _invalid(jobs, "query.created_after")
    ok = c.get(f"{API}/audit", params={"since": "2026-01-01T00:00:00Z"}, headers=world.admin)
    assert ok.status_code == 200


def test_405_allow_names_every_method_of_the_path(world: World) -> None:
    c, h = world.client, world.a.h()
    for path, methods in (
        (f"{API}/datasets", {"GET", "POST"}),
        (f"{API}/me/notification-preferences", {"GET", "PUT"}),
        (f"{API}/datasets/ds_x", {"GET", "PATCH", "DELETE"}),
    ):
        resp = c.options(path, headers=h)
        assert resp.status_code == 405, resp.text
        assert set(resp.headers["allow"].split(", ")) == methods, (path, resp.headers["allow"])


def test_numbers_refuse_booleans_and_names_follow_their_documented_pattern(world: World) -> None:
    c, h = world.client, world.a.h()
    ds = c.post(f"{API}/datasets", json={"name": "bools"}, headers=h).json()["id"]
    decl = {"path": "a.csv", "size": False}
    _invalid(
        c.post(f"{API}/datasets/{ds}/uploads", json={"files": [decl]}, headers=h), "files.0.size"
    )
    prefs = {"email_on_job_failed": 0}
    _invalid(
        c.put(f"{API}/me/notification-preferences", json=prefs, headers=h), "email_on_job_failed"
    )
    schemas = c.get(f"{API}/openapi.json").json()["components"]["schemas"]
    for model in (
        "TenantCreate",
        "TenantUpdate",
        "DatasetCreate",
        "LocationCreate",
        "ResourceClassIn",
    ):
        assert "pattern" in schemas[model]["properties"]["name"], model
    status = schemas["TenantUpdate"]["properties"]["status"]
    assert "null" not in str(status), status
    tid = world.a.id
    _invalid(c.patch(f"{API}/tenants/{tid}", json={"status": None}, headers=world.admin), "status")
    keep = c.patch(f"{API}/tenants/{tid}", json={"storage_quota_bytes": None}, headers=world.admin)
    assert keep.status_code == 200, keep.text  # null is "no quota" there, documented as such


def test_405_for_a_literal_path_names_its_own_methods_and_bad_utf8_is_422(world: World) -> None:
    c, h = world.client, world.a.h()
    resp = c.options(f"{API}/datasets/usage", headers=h)
    assert resp.status_code == 405 and resp.headers["allow"] == "GET", resp.headers
    body = b'{"name": "\xff\xfe"}'
    bad = c.post(f"{API}/datasets", content=body, headers={**h, "content-type": "application/json"})
    _invalid(bad, "body")


def test_numbers_past_the_database_columns_are_refused_not_overflowed(world: World) -> None:
    c, h = world.client, world.a.h()
    huge = 2**63  # one past BIGINT
    body = {"name": "huge", "storage_quota_bytes": huge}
    _invalid(c.post(f"{API}/tenants", json=body, headers=world.admin), "storage_quota_bytes")
    rc = {"name": "huge", "cpus": 1, "memory_bytes": huge}
    _invalid(c.put(f"{API}/admin/resource-classes", json=rc, headers=world.admin), "memory_bytes")
    ds = c.post(f"{API}/datasets", json={"name": "huge"}, headers=h).json()["id"]
    decl = {"path": "a.bin", "size": huge}
    _invalid(
        c.post(f"{API}/datasets/{ds}/uploads", json={"files": [decl]}, headers=h), "files.0.size"
    )

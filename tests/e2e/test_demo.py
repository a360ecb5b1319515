"""`forgeml demo` against a real `forgeml up`: the seed's story is there, and a re-run reuses it."""

from __future__ import annotations

import httpx

from tests.support.server import Server, cli


def test_demo_seeds_tenant_algorithms_platform_data_and_grants(
    server: Server, env: dict[str, str]
) -> None:
    admin = {**env, "FORGEML_URL": server.url, "FORGEML_TOKEN": server.info["token"]}
    first = cli(admin, "demo")
    assert set(first["algorithms"]) == {"digits-classifier", "tabular-classifier"}
    assert set(first["platform_datasets"]) == {"digits-platform", "wine-platform"}
    assert {"digits-mine", "digits-validation", "wine-mine", "wine-validation"} <= set(
        first["tenant_datasets"]
    )
    # the demo user signs in with the printed password and sees only its data and the grants
    login = httpx.post(
        f"{server.url}/api/v1/auth/login",
        json={"email": first["email"], "password": first["password"], "mode": "token"},
    )
    assert login.status_code == 200, login.text
    h = {"Authorization": f"Bearer {login.json()['token']}"}
    mine = httpx.get(f"{server.url}/api/v1/datasets", headers=h).json()["items"]
    assert {d["name"] for d in mine} == {
        "digits-mine",
        "digits-validation",
        "wine-mine",
        "wine-validation",
    }
    granted = httpx.get(f"{server.url}/api/v1/platform-datasets", headers=h).json()["items"]
    assert {d["name"] for d in granted} == {"digits-platform", "wine-platform"}
    # a second run reuses everything and prints a password that works
    again = cli(admin, "demo")
    assert again["tenant_datasets"] == first["tenant_datasets"]
    assert again["platform_datasets"] == first["platform_datasets"]
    relogin = httpx.post(
        f"{server.url}/api/v1/auth/login",
        json={"email": again["email"], "password": again["password"], "mode": "token"},
    )
    assert relogin.status_code == 200

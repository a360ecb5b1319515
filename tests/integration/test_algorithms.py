"""Algorithm registry API on SQLite and PostgreSQL: register, bad input stores nothing, tenants see
cards only, admin surfaces are 404 (and audited) for tenants, deprecation, hyperparameter checks."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from forgeml.client.packing import pack_folder
from forgeml.domain.errors import Conflict, NotFound
from forgeml.services.identity.audit import Actor
from tests.support.algorithms import (
    ADMIN_API,
    CARDS_API,
    EXAMPLES,
    SECRET_CODE,
    TINY_MANIFEST,
    register,
    tar_gz,
    tiny_bundle,
    tiny_files,
)
from tests.support.world import World

TENANT_ROLES = ("tenant-admin", "member", "viewer")


def admin_actor(world: World) -> Actor:
    return Actor(world.services.auth.principal_from_token(world.admin_token))


def tenant_actor(world: World, role: str = "member") -> Actor:
    return Actor(world.services.auth.principal_from_token(world.a.tokens[role]))


def stored_keys(world: World) -> list[str]:
    return [o.key for o in world.services.store.list("platform/algorithms/")]


def version_path(v: dict[str, Any], suffix: str = "", base: str = ADMIN_API) -> str:
    return f"{base}/{v['algorithm_id']}/versions/{v['id']}{suffix}"


def test_register_example_stores_bundle_and_admin_sees_everything(
    world: World, tmp_path: Path
) -> None:
    bundle, digest = pack_folder(EXAMPLES / "tabular-classifier", out=tmp_path / "b.tar.gz")
    v = register(world, bundle.read_bytes())
    assert (v["name"], v["version"], v["digest"], v["status"]) == (
        "tabular-classifier", "1.0.0", digest, "registered",
    )  # fmt: skip
    assert v["bundle_key"] == f"platform/algorithms/{v['algorithm_id']}/{digest[7:]}.tar.gz"
    assert stored_keys(world) == [v["bundle_key"]]
    detail = world.client.get(version_path(v), headers=world.admin).json()
    assert detail["manifest"]["entry_point"] == "train.py"
    assert detail["manifest"]["requirements"] == "requirements.txt"
    resp = world.client.get(version_path(v, "/bundle"), headers=world.admin)
    assert resp.status_code == 200 and resp.content == bundle.read_bytes()
    assert resp.headers["x-forgeml-digest"] == digest
    events = world.client.get("/api/v1/audit?action=algorithm.*", headers=world.admin).json()
    assert {"algorithm.register", "algorithm.download"} <= {e["action"] for e in events["items"]}
    with world.services.db.read() as conn:
        from forgeml.db import events as ev
        from forgeml.db.scope import Scope

        emitted = ev.after(conn, Scope.everything(), 0)
    assert [(e.type, e.subject_id) for e in emitted] == [("algorithm.registered", v["id"])]


def test_versions_are_never_overwritten(world: World) -> None:
    first = register(world, tiny_bundle(version="1.0.0"))
    again = register(world, tiny_bundle(version="1.0.0", requirements="# changed\n"), status=409)
    assert again["error"]["code"] == "already_exists"
    second = register(world, tiny_bundle(version="1.1.0"))
    assert second["algorithm_id"] == first["algorithm_id"]
    alg = world.client.get(f"{ADMIN_API}/{first['algorithm_id']}", headers=world.admin).json()
    assert [v["version"] for v in alg["versions"]] == ["1.1.0", "1.0.0"]
    assert len(stored_keys(world)) == 2


BAD: dict[str, tuple[Any, int, str]] = {
    "no manifest": ({"train.py": SECRET_CODE}, 422, "forgeml.yaml"),
    "bad yaml": ({**tiny_files(), "forgeml.yaml": "name: [unclosed\n"}, 422, "invalid YAML"),
    "unknown type": (
        {**tiny_files(), "forgeml.yaml": TINY_MANIFEST.format(name="b", version="1.0.0").replace(
            "type: free-text", "type: blob")},
        422, "hyperparameters.note.type",
    ),
    "default outside range": (
        {**tiny_files(), "forgeml.yaml": TINY_MANIFEST.format(name="b", version="1.0.0").replace(
            "default: 3,", "default: 30,")},
        422, "hyperparameters.epochs",
    ),
    "entry point missing": (
        {k: v for k, v in tiny_files().items() if k != "train.py"}, 422, "entry_point",
    ),
    "path traversal": ({**tiny_files(), "../evil.py": "x"}, 422, "leaves the bundle"),
    "absolute path": ({**tiny_files(), "/etc/evil": "x"}, 422, "absolute"),
    "symlink": ((tiny_files(), {"link": "/etc/passwd"}), 422, "link"),
    "resource class": (
        {**tiny_files(), "forgeml.yaml": TINY_MANIFEST.format(name="b", version="1.0.0").replace(
            "[cpu.small]", "[cpu_small]")},
        422, "resource_classes.0",
    ),
    "not a tar.gz": (b"this is not an archive", 422, "not a readable tar.gz"),
    "empty body": (b"", 422, "body"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_bundles_are_refused_and_nothing_is_stored(world: World, case: str) -> None:
    spec, status, needle = BAD[case]
    if isinstance(spec, bytes):
        body = spec
    elif isinstance(spec, tuple):
        body = tar_gz(spec[0], links=spec[1])
    else:
        body = tar_gz(spec)
    err = register(world, body, status=status)["error"]
    assert needle in json.dumps(err), err
    assert stored_keys(world) == []
    assert world.client.get(ADMIN_API, headers=world.admin).json()["items"] == []


def test_bundle_over_the_limit_is_413_and_nothing_is_stored(world: World) -> None:
    world.services.settings.algorithm_max_bundle_bytes = 2048
    big = tar_gz({**tiny_files(), "weights.bin": os.urandom(4096)})
    assert len(big) > 2048
    assert register(world, big, status=413)["error"]["code"] == "payload_too_large"
    # also when the client does not announce the size (chunked upload)
    resp = world.client.post(ADMIN_API, content=iter([big[:1500], big[1500:]]), headers=world.admin)
    assert resp.status_code == 413
    assert stored_keys(world) == []
    assert world.client.get(ADMIN_API, headers=world.admin).json()["items"] == []


@pytest.mark.parametrize("role", TENANT_ROLES)
def test_tenants_cannot_reach_bundle_log_or_manifest_by_any_route(world: World, role: str) -> None:
    v = register(world, tiny_bundle())
    h = world.a.h(role)
    c = world.client
    paths = [ADMIN_API, f"{ADMIN_API}/{v['algorithm_id']}", version_path(v)]
    paths += [version_path(v, "/bundle"), version_path(v, "/build-log")]
    for path in paths:
        resp = c.get(path, headers=h)
        assert resp.status_code == 404, path
        assert SECRET_CODE.strip() not in resp.text
    for verb in ("deprecate", "undeprecate", "rebuild"):
        assert c.post(version_path(v, f"/{verb}"), headers=h).status_code == 404
    assert c.post(ADMIN_API, content=tiny_bundle("evil"), headers=h).status_code == 404
    denied = c.get("/api/v1/audit?outcome=denied&limit=200", headers=world.admin).json()["items"]
    actions = {e["action"] for e in denied if e["actor_id"] == world.a.users[role]["id"]}
    assert {"algorithm_version.download", "algorithm_version.build_log"} <= actions
    assert {"algorithm_version.get", "algorithm.register", "algorithm.list"} <= actions


def test_tenant_sees_cards_without_code_files_or_requirements(world: World) -> None:
    v = register(world, tiny_bundle())
    resp = world.client.get(f"{CARDS_API}/{v['algorithm_id']}", headers=world.a.h("viewer"))
    assert resp.status_code == 200
    listed = world.client.get(CARDS_API, headers=world.a.h("viewer"))
    one = world.client.get(version_path(v, base=CARDS_API), headers=world.a.h("viewer"))
    for text in (resp.text, listed.text, one.text):
        for secret in ("requirements", "entry_point", "train.py", "forgeml.yaml", "plugh",
                       "xyzzy", v["digest"], v["bundle_key"], "status", "manifest"):  # fmt: skip
            assert secret not in text, (secret, text)
    card = one.json()["card"]
    assert card["hyperparameters"]["optimizer"]["values"] == ["sgd", "adam"]
    assert card["channels"]["train"]["required"] is True
    assert card["metrics"] == ["train:loss"] and card["resource_classes"] == ["cpu.small"]
    assert card["network"] is True and card["distributed"] is False


def test_deprecate_hides_versions_from_tenants(world: World) -> None:
    old = register(world, tiny_bundle(version="1.0.0"))
    new = register(world, tiny_bundle(version="2.0.0"))
    assert world.client.post(version_path(old, "/deprecate"), headers=world.admin).json()[
        "deprecated"
    ]
    c, h = world.client, world.a.h("member")
    listed = c.get(CARDS_API, headers=h).json()["items"]
    assert [v["version"] for v in listed[0]["versions"]] == ["2.0.0"]
    everything = c.get(f"{CARDS_API}?include_deprecated=true", headers=h).json()["items"]
    assert [v["version"] for v in everything[0]["versions"]] == ["2.0.0", "1.0.0"]
    assert c.get(version_path(old, base=CARDS_API), headers=h).status_code == 404
    assert c.get(version_path(old, "?include_deprecated=true", CARDS_API), headers=h).json()[
        "deprecated"
    ]
    with pytest.raises(Conflict, match="deprecated"):
        world.services.algorithm_envs.resolve_for_job(tenant_actor(world), old["id"])
    resolved = world.services.algorithm_envs.resolve_for_job(
        tenant_actor(world), name="tiny", version="2.0.0"
    )
    assert resolved.version_id == new["id"] and resolved.manifest.entry_point == "train.py"
    with pytest.raises(NotFound):
        world.services.algorithm_envs.resolve_for_job(tenant_actor(world), "alv_nope")
    c.post(version_path(old, "/undeprecate"), headers=world.admin)
    assert len(c.get(CARDS_API, headers=h).json()["items"][0]["versions"]) == 2


HP_CASES: list[tuple[dict[str, Any], int, dict[str, Any]]] = [
    ({"seed": 1}, 200, {"epochs": "3", "lr": "0.1", "optimizer": "adam", "seed": "1"}),
    ({"seed": "7", "epochs": "10", "lr": 0.001, "note": "hi"}, 200,
     {"epochs": "10", "lr": "0.001", "note": "hi", "optimizer": "adam", "seed": "7"}),
    ({"seed": 1, "optimizer": None}, 200,
     {"epochs": "3", "lr": "0.1", "optimizer": "adam", "seed": "1"}),
    ({"seed": 1, "sagemaker_program": "x", "_tuning_objective_metric": "loss"}, 422,
     {"hyperparameters.sagemaker_program": "reserved for the training toolkit",
      "hyperparameters._tuning_objective_metric": "reserved for the training toolkit"}),
    ({"seed": 1, "note": "a\u0000b"}, 422, {"hyperparameters.note": "NUL"}),
    ({}, 422, {"hyperparameters.seed": "is required"}),
    ({"seed": 1, "epochs": 11}, 422, {"hyperparameters.epochs": "above max"}),
    ({"seed": 1, "epochs": 2.5}, 422, {"hyperparameters.epochs": "integer"}),
    ({"seed": 1, "lr": "fast"}, 422, {"hyperparameters.lr": "number"}),
    ({"seed": 1, "optimizer": "rmsprop"}, 422, {"hyperparameters.optimizer": "not one of"}),
    ({"seed": 1, "depth": 3}, 422, {"hyperparameters.depth": "unknown hyperparameter"}),
    ({"seed": 1, "note": "x" * 2501}, 422, {"hyperparameters.note": "2500"}),
    ({"seed": 1, "epochs": True}, 422, {"hyperparameters.epochs": "integer"}),
    ({"seed": -1, "epochs": 0, "lr": 5, "bogus": 1}, 422, {
        "hyperparameters.seed": "below min", "hyperparameters.epochs": "below min",
        "hyperparameters.lr": "above max", "hyperparameters.bogus": "unknown"}),
]  # fmt: skip


def test_validate_hyperparameters_table(world: World) -> None:
    v = register(world, tiny_bundle())
    url = version_path(v, "/validate-hyperparameters", CARDS_API)
    for given, status, expected in HP_CASES:
        resp = world.client.post(url, json={"hyperparameters": given}, headers=world.a.h("viewer"))
        assert resp.status_code == status, (given, resp.text)
        if status == 200:
            assert resp.json()["hyperparameters"] == expected
            continue
        errors = {e["loc"]: e["msg"] for e in resp.json()["error"]["details"]["errors"]}
        assert set(errors) == set(expected), (given, errors)  # every problem, at once
        for loc, needle in expected.items():
            assert needle in errors[loc], (loc, errors[loc])
    # the service job submission calls gives the same answer
    values = world.services.algorithms.validate_hyperparameters(
        tenant_actor(world), v["id"], {"seed": 1}
    )
    assert values == HP_CASES[0][2]


def test_toolkit_hyperparameters_are_refused_one_by_one(world: World) -> None:
    v = register(world, tiny_bundle())
    given = {"seed": 1, **{f"sagemaker_k{i}": "v" for i in range(100)}}
    resp = world.client.post(
        version_path(v, "/validate-hyperparameters", CARDS_API),
        json={"hyperparameters": given},
        headers=world.admin,
    )
    assert resp.status_code == 422
    errors = resp.json()["error"]["details"]["errors"]
    assert {e["loc"] for e in errors} == {f"hyperparameters.sagemaker_k{i}" for i in range(100)}


def test_platform_cards_are_the_same_for_every_tenant(world: World) -> None:
    """The flip side of the cross-tenant registry: published cards are shared on purpose."""
    register(world, tiny_bundle())
    a = world.client.get(CARDS_API, headers=world.a.h("viewer")).json()
    b = world.client.get(CARDS_API, headers=world.b.h("viewer")).json()
    assert a == b and len(a["items"]) == 1


def test_a_bare_name_resolves_to_the_newest_usable_version(world: World) -> None:
    first = register(world, tiny_bundle(version="1.0.0"))
    second = register(world, tiny_bundle(version="1.1.0"))
    envs, actor = world.services.algorithm_envs, tenant_actor(world)
    assert envs.resolve_for_job(actor, name="tiny").version_id == second["id"]
    world.client.post(version_path(second, "/deprecate"), headers=world.admin)
    assert envs.resolve_for_job(actor, name="tiny").version_id == first["id"]
    world.client.post(version_path(first, "/deprecate"), headers=world.admin)
    with pytest.raises(NotFound, match="no usable version"):
        envs.resolve_for_job(actor, name="tiny")

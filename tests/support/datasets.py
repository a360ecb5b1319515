"""Dataset helpers for API tests: create, upload and commit through the real routes."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi.testclient import TestClient

from tests.support.world import World

API = "/api/v1"


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.status_code} {resp.text}"
    return resp.json() if resp.content else None


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def create(c: TestClient, h: dict[str, str], name: str, kind: str = "tenant") -> dict[str, Any]:
    body = {"name": name, "kind": kind, "description": f"{name} data"}
    return ok(c.post(f"{API}/datasets", json=body, headers=h), 201)  # type: ignore[no-any-return]


def open_session(
    c: TestClient, h: dict[str, str], ds_id: str, files: dict[str, bytes] | None = None
) -> dict[str, Any]:
    decl = [{"path": p, "size": len(b), "sha256": sha(b)} for p, b in (files or {}).items()]
    resp = c.post(f"{API}/datasets/{ds_id}/uploads", json={"files": decl}, headers=h)
    return ok(resp, 201)  # type: ignore[no-any-return]


def put(c: TestClient, h: dict[str, str], ds_id: str, up_id: str, path: str, data: bytes) -> Any:
    url = f"{API}/datasets/{ds_id}/uploads/{up_id}/files/{path}"
    return c.put(url, content=data, headers={**h, "content-type": "text/csv"})


def commit(c: TestClient, h: dict[str, str], ds_id: str, up_id: str) -> Any:
    return c.post(f"{API}/datasets/{ds_id}/uploads/{up_id}/commit", headers=h)


def version_with(
    c: TestClient, h: dict[str, str], ds_id: str, files: dict[str, bytes]
) -> dict[str, Any]:
    """Declare, upload and commit `files` as a new version; returns the version."""
    up = open_session(c, h, ds_id, files)
    for path, data in files.items():
        ok(put(c, h, ds_id, up["version"]["id"], path, data))
    return ok(commit(c, h, ds_id, up["version"]["id"]))  # type: ignore[no-any-return]


SAMPLE = {"data/a.csv": b"x,y\n1,2\n", "README.md": b"# hello\n"}


def tenant_b_setup(w: World) -> dict[str, str]:
    """Tenant B's dataset (v1 committed, one open session), a platform dataset granted to B
    only, and that grant; built once per test world."""
    cache: dict[str, str] | None = w.services.extra.get("datasets.b")
    if cache is not None:
        return cache
    c, hb = w.client, w.b.h()
    ds = create(c, hb, "b-data")
    version_with(c, hb, ds["id"], SAMPLE)
    up = open_session(c, hb, ds["id"], {"later.bin": b"123"})
    plat = create(c, w.admin, "reference-set", kind="platform")
    version_with(c, w.admin, plat["id"], SAMPLE)
    grant = ok(
        c.post(
            f"{API}/grants", json={"dataset_id": plat["id"], "tenant_id": w.b.id}, headers=w.admin
        ),
        201,
    )
    cache = {"dataset": ds["id"], "upload": up["version"]["id"], "platform": plat["id"]}
    cache["grant"] = grant["id"]
    w.services.extra["datasets.b"] = cache
    return cache

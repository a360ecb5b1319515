"""Datasets through the API: upload a folder, commit, list, download (whole, Range, tar), verify;
the bad-input list; nothing of an uncommitted session is visible anywhere."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest

from tests.support.datasets import (
    API,
    SAMPLE,
    commit,
    create,
    ok,
    open_session,
    put,
    sha,
    version_with,
)
from tests.support.world import World


def _audit(w: World, action: str) -> list[dict[str, Any]]:
    resp = w.client.get(f"{API}/audit", params={"action": action, "limit": 200}, headers=w.admin)
    return [e for e in ok(resp)["items"] if e["action"] == action]


def test_upload_commit_list_download_verify(world: World) -> None:
    c, h = world.client, world.a.h("member")
    ds = create(c, h, "churn")
    files = {**SAMPLE, "deep/er/x.bin": bytes(range(256)) * 40}
    up = open_session(c, h, ds["id"], files)
    assert {f["state"] for f in up["files"]} == {"pending"}
    for path, data in files.items():
        got = ok(put(c, h, ds["id"], up["version"]["id"], path, data))
        assert got["sha256"] == sha(data) and got["state"] == "uploaded"
    v = ok(commit(c, h, ds["id"], up["version"]["id"]))
    assert v["number"] == 1 and v["status"] == "committed" and v["file_count"] == 3
    assert v["size_bytes"] == sum(map(len, files.values())) and len(v["digest"]) == 64

    assert [d["id"] for d in ok(c.get(f"{API}/datasets", headers=h))["items"]] == [ds["id"]]
    assert ok(c.get(f"{API}/datasets/{ds['id']}", headers=h))["latest_version"]["number"] == 1
    listed = ok(c.get(f"{API}/datasets/{ds['id']}/versions/1/files", headers=h))["items"]
    assert {f["path"]: f["sha256"] for f in listed} == {p: sha(b) for p, b in files.items()}
    for path, data in files.items():
        resp = c.get(f"{API}/datasets/{ds['id']}/versions/1/files/{path}", headers=h)
        assert resp.status_code == 200 and resp.content == data
        assert resp.headers["x-checksum-sha256"] == sha(data)
    manifest = ok(c.get(f"{API}/datasets/{ds['id']}/versions/1/manifest", headers=h))
    assert set(manifest["files"]) == set(files) and "object_key" not in str(manifest)

    tar = c.get(f"{API}/datasets/{ds['id']}/versions/1/archive", headers=h)
    assert tar.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(tar.content)) as tf:
        got = {m.name: tf.extractfile(m).read() for m in tf if m.isfile()}  # type: ignore[union-attr]
    assert got == files
    assert len(_audit(world, "dataset.download")) == len(files) + 1
    events = world.services.db
    with events.read() as conn:
        from forgeml.db.events import after
        from forgeml.db.scope import Scope

        types = [e.type for e in after(conn, Scope.everything(), 0)]
    assert types.count("dataset.version_committed") == 1


def test_range_requests(world: World) -> None:
    c, h = world.client, world.a.h()
    ds = create(c, h, "ranges")
    data = bytes(range(256)) * 4
    version_with(c, h, ds["id"], {"f.bin": data})
    url = f"{API}/datasets/{ds['id']}/versions/1/files/f.bin"
    r = c.get(url, headers={**h, "range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
    r = c.get(url, headers={**h, "range": "bytes=1000-"})
    assert r.status_code == 206 and r.content == data[1000:]
    r = c.get(url, headers={**h, "range": "bytes=-5"})
    assert r.status_code == 206 and r.content == data[-5:]
    r = c.get(url, headers={**h, "range": "bytes=5000-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(data)}"
    assert r.json()["error"]["code"] == "range_not_satisfiable"
    assert c.get(url, headers={**h, "range": "items=1-2"}).status_code == 200  # ignored


def test_uncommitted_session_is_invisible_everywhere(world: World) -> None:
    c, h = world.client, world.a.h()
    ds = create(c, h, "hidden")
    up = open_session(c, h, ds["id"], SAMPLE)
    ok(put(c, h, ds["id"], up["version"]["id"], "README.md", SAMPLE["README.md"]))
    base = f"{API}/datasets/{ds['id']}"
    assert ok(c.get(f"{base}/versions", headers=h))["items"] == []
    assert ok(c.get(base, headers=h))["latest_version"] is None
    for path in (
        "versions/1",
        "versions/1/files",
        "versions/1/files/README.md",
        "versions/1/archive",
    ):
        assert c.get(f"{base}/{path}", headers=h).status_code == 404, path
    # the session itself tells the uploader what arrived
    s = ok(c.get(f"{base}/uploads/{up['version']['id']}", headers=h))
    assert {f["path"]: f["state"] for f in s["files"]} == {
        "README.md": "uploaded",
        "data/a.csv": "pending",
    }


def test_bad_declarations_list_every_problem(world: World) -> None:
    c, h = world.client, world.a.h()
    ds = create(c, h, "bad")
    paths = ["../x", "/abs", "a\\b", "a\x00b", "a\x01b", "x" * 256, "%2e%2e/y", "ok", "OK", "  "]
    decl = [{"path": p, "size": 1} for p in paths]
    resp = c.post(f"{API}/datasets/{ds['id']}/uploads", json={"files": decl}, headers=h)
    assert resp.status_code == 422
    errors = resp.json()["error"]["details"]["errors"]
    assert len(errors) == len(paths) - 1  # every path but "ok"
    assert ok(c.get(f"{API}/datasets/{ds['id']}/uploads", headers=h))["items"] == []


BAD_URL_PATHS = [
    "..%2Fescape",
    "%2e%2e/escape",
    "a/%252e%252e/b",
    "a%5Cb",
    "a%00b",
    "a%0Ab",
    "x" * 256,
]


def test_bad_paths_on_put_are_refused_and_write_nothing(world: World) -> None:
    c, h = world.client, world.a.h()
    ds = create(c, h, "badput")
    up = open_session(c, h, ds["id"])
    before = list(world.services.store.list(""))
    for path in BAD_URL_PATHS:
        resp = put(c, h, ds["id"], up["version"]["id"], path, b"payload")
        # a newline never matches the route's path pattern: the router itself answers 404
        assert resp.status_code == (404 if "%0A" in path else 422), (path, resp.text)
    assert list(world.services.store.list("")) == before


def test_size_and_checksum_mismatch_store_nothing(world: World) -> None:
    c, h = world.client, world.a.h()
    ds = create(c, h, "mismatch")
    up = open_session(c, h, ds["id"], {"a.csv": b"12345"})
    uid = up["version"]["id"]
    before = list(world.services.store.list(""))
    assert put(c, h, ds["id"], uid, "a.csv", b"1234").status_code == 422  # size
    resp = put(c, h, ds["id"], uid, "a.csv", b"54321")  # same size, other bytes
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "checksum_mismatch"
    url = f"{API}/datasets/{ds['id']}/uploads/{uid}/files/b.csv"
    resp = c.put(url, content=b"abc", headers={**h, "x-content-sha256": "0" * 64})
    assert resp.status_code == 422
    assert list(world.services.store.list("")) == before
    assert commit(c, h, ds["id"], uid).status_code == 422  # a.csv never arrived


def test_commit_rules_empty_twice_duplicate(world: World) -> None:
    c, h = world.client, world.a.h()
    ds = create(c, h, "rules")
    empty = open_session(c, h, ds["id"])
    resp = commit(c, h, ds["id"], empty["version"]["id"])  # an empty version is legitimate
    assert resp.status_code in (200, 201), resp.text
    assert (resp.json()["file_count"], resp.json()["size_bytes"]) == (0, 0)
    up = open_session(c, h, ds["id"])
    uid = up["version"]["id"]
    ok(put(c, h, ds["id"], uid, "a.csv", b"1"))
    again = put(c, h, ds["id"], uid, "A.CSV", b"2")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_uploaded"
    ok(commit(c, h, ds["id"], uid))
    assert commit(c, h, ds["id"], uid).status_code == 409
    assert put(c, h, ds["id"], uid, "b.csv", b"1").status_code == 409  # committed = immutable


def test_killed_upload_leaves_nothing_and_resumes(world: World) -> None:
    svc, c, h = world.services, world.client, world.a.h()
    ds = create(c, h, "resume")
    big = bytes(range(256)) * 8192  # 2 MiB
    up = open_session(c, h, ds["id"], {"big.bin": big, "small.txt": b"hi"})
    uid = up["version"]["id"]
    ok(put(c, h, ds["id"], uid, "small.txt", b"hi"))

    def dying() -> Any:
        yield big[: len(big) // 2]
        raise ConnectionResetError("client went away")

    from forgeml.services.identity.audit import Actor

    actor = Actor(principal=svc.auth.principal_from_token(world.a.tokens["tenant-admin"]))
    with pytest.raises(ConnectionResetError):
        svc.datasets.uploads.put_file(
            actor, ds["id"], uid, "big.bin", dying(), size=None, sha256=None, content_type=None
        )
    keys = [o.key for o in svc.store.list("")]
    assert len(keys) == 1 and keys[0].endswith(up["files"][1]["id"])  # only small.txt
    s = ok(c.get(f"{API}/datasets/{ds['id']}/uploads/{uid}", headers=h))
    assert {f["path"]: f["state"] for f in s["files"]} == {
        "big.bin": "pending",
        "small.txt": "uploaded",
    }
    assert c.get(f"{API}/datasets/{ds['id']}/versions/1", headers=h).status_code == 404
    ok(put(c, h, ds["id"], uid, "big.bin", big))  # resume: send only what is missing
    assert ok(commit(c, h, ds["id"], uid))["file_count"] == 2


def test_abort_and_expiry_collect_the_objects(world: World) -> None:
    from datetime import timedelta

    from forgeml.db.types import utcnow
    from forgeml.services.datasets.gc import collect_garbage

    svc, c, h = world.services, world.client, world.a.h()
    ds = create(c, h, "gc")
    one = open_session(c, h, ds["id"])
    ok(put(c, h, ds["id"], one["version"]["id"], "a.bin", b"x" * 100))
    aborted = ok(c.delete(f"{API}/datasets/{ds['id']}/uploads/{one['version']['id']}", headers=h))
    assert aborted["status"] == "aborted" and list(svc.store.list("")) == []
    two = open_session(c, h, ds["id"])
    ok(put(c, h, ds["id"], two["version"]["id"], "b.bin", b"y" * 100))
    assert collect_garbage(svc.db, svc.store).expired == 0
    result = collect_garbage(svc.db, svc.store, now=utcnow() + timedelta(days=2))
    assert result.expired == 1 and result.cleaned == 1
    assert list(svc.store.list("")) == []
    s = ok(c.get(f"{API}/datasets/{ds['id']}/uploads/{two['version']['id']}", headers=h))
    assert s["version"]["status"] == "expired"
    assert commit(c, h, ds["id"], two["version"]["id"]).status_code == 409


def test_roles_viewer_reads_but_cannot_write(world: World) -> None:
    c = world.client
    ds = create(c, world.a.h("member"), "roles")
    version_with(c, world.a.h("member"), ds["id"], SAMPLE)
    viewer = world.a.h("viewer")
    assert (
        c.get(f"{API}/datasets/{ds['id']}/versions/1/files/README.md", headers=viewer).status_code
        == 200
    )
    assert c.post(f"{API}/datasets/{ds['id']}/uploads", json={}, headers=viewer).status_code == 403
    assert c.delete(f"{API}/datasets/{ds['id']}", headers=viewer).status_code == 403
    resp = c.post(f"{API}/datasets", json={"name": "p", "kind": "platform"}, headers=world.a.h())
    assert resp.status_code == 403


def test_names_unique_per_owner(world: World) -> None:
    c = world.client
    create(c, world.a.h(), "same")
    create(c, world.b.h(), "same")  # another tenant may use the name
    resp = c.post(f"{API}/datasets", json={"name": "same"}, headers=world.a.h())
    assert resp.status_code == 409
    resp = c.post(f"{API}/datasets", json={"name": "../x"}, headers=world.a.h())
    assert resp.status_code == 422

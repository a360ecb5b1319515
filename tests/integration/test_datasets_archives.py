"""Archives unpacked server-side: good zip and tar.gz land in the version; every unsafe archive
(links, devices, traversal, absolute names, bombs, too many members, duplicates) is refused
whole, leaving no object behind."""

from __future__ import annotations

import io
import tarfile
import zipfile

from forgeml.services.datasets.archives import ArchiveLimits
from tests.support.datasets import API, commit, create, ok, open_session, sha
from tests.support.world import World

FILES = {"a.csv": b"1,2\n", "sub/b.txt": b"hello", "sub/deeper/c.bin": bytes(range(200))}


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tgz_of(members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for ti in members:
            body = (data or {}).get(ti.name)
            tf.addfile(ti, io.BytesIO(body) if body is not None else None)
    return buf.getvalue()


def reg(name: str, data: bytes) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    return ti


def special(name: str, kind: bytes, target: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname = kind, target
    return ti


def _zip_symlink() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def test_zip_and_targz_unpack_into_the_version(world: World) -> None:
    c, h = world.client, world.a.h()
    ds = create(c, h, "arch")
    up = open_session(c, h, ds["id"])
    base = f"{API}/datasets/{ds['id']}/uploads/{up['version']['id']}/archive"
    got = ok(c.put(base, content=zip_of(FILES), headers=h))
    assert {f["path"]: f["sha256"] for f in got} == {p: sha(b) for p, b in FILES.items()}
    members = [reg(f"./{n}", b) for n, b in FILES.items()]  # `tar -C dir .` style names
    tgz = tgz_of(members, {f"./{n}": b for n, b in FILES.items()})
    ok(c.put(base, params={"prefix": "from-tar"}, content=tgz, headers=h))
    v = ok(commit(c, h, ds["id"], up["version"]["id"]))
    assert v["file_count"] == 6
    r = c.get(f"{API}/datasets/{ds['id']}/versions/1/files/from-tar/sub/b.txt", headers=h)
    assert r.content == b"hello"


def test_unsafe_archives_are_refused_whole(world: World) -> None:
    c, h, svc = world.client, world.a.h(), world.services
    svc.datasets.archive_limits = ArchiveLimits(
        max_members=5, max_expanded_bytes=10 << 20, max_ratio=50
    )
    ds = create(c, h, "evil")
    up = open_session(c, h, ds["id"])
    base = f"{API}/datasets/{ds['id']}/uploads/{up['version']['id']}/archive"
    ok(c.put(base, content=zip_of({"taken.csv": b"1"}), headers=h))
    before = sorted(o.key for o in svc.store.list(""))
    ok_member = reg("fine.txt", b"ok")
    bad = {
        "zip traversal": zip_of({"fine.txt": b"ok", "../../etc/cron.d/x": b"x"}),
        "zip absolute": zip_of({"/etc/passwd": b"x"}),
        "zip backslash": zip_of({"..\\..\\win.ini": b"x"}),
        "zip symlink": _zip_symlink(),
        "zip bomb": zip_of({"zeros": bytes(8 << 20)}),
        "zip too many": zip_of({f"f{i}": b"x" for i in range(6)}),
        "zip duplicate": zip_of({"dup.txt": b"1", "DUP.txt": b"2"}),
        "zip clashes with session": zip_of({"taken.csv": b"2"}),
        "tar symlink": tgz_of(
            [ok_member, special("ln", tarfile.SYMTYPE, "/etc/passwd")], {"fine.txt": b"ok"}
        ),
        "tar hardlink": tgz_of(
            [ok_member, special("hl", tarfile.LNKTYPE, "fine.txt")], {"fine.txt": b"ok"}
        ),
        "tar device": tgz_of([special("dev", tarfile.CHRTYPE)]),
        "tar fifo": tgz_of([special("fifo", tarfile.FIFOTYPE)]),
        "tar traversal": tgz_of([reg("../escape", b"x")], {"../escape": b"x"}),
        "tar absolute": tgz_of([reg("/abs", b"x")], {"/abs": b"x"}),
        "tar bomb": tgz_of([reg("zeros", bytes(8 << 20))], {"zeros": bytes(8 << 20)}),
        "not an archive": b"just some text",
    }
    for name, body in bad.items():
        resp = c.put(base, content=body, headers=h)
        assert resp.status_code == 422, (name, resp.text)
        assert sorted(o.key for o in svc.store.list("")) == before, name
    bad_prefix = c.put(base, params={"prefix": "../up"}, content=zip_of(FILES), headers=h)
    assert bad_prefix.status_code == 422
    s = ok(c.get(f"{API}/datasets/{ds['id']}/uploads/{up['version']['id']}", headers=h))
    assert [f["path"] for f in s["files"]] == ["taken.csv"]

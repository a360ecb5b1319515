"""Algorithm bundles: deterministic packing, streamed inspection, and safe all-or-nothing extraction."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from forgeml.client.packing import pack_folder
from forgeml.domain.errors import InvalidInput
from forgeml.training.bundle import extract_bundle, inspect_bundle

MANIFEST = b"name: algo\nversion: 1.0.0\nentry_point: train.py\nrequirements: requirements.txt\n"
LIMITS = {"max_bytes": 1 << 20, "max_members": 100}


def entry(name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE, mode: int = 0o644,
          link: str = "") -> tuple[tarfile.TarInfo, bytes]:  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def tar_gz(*entries: tuple[tarfile.TarInfo, bytes], manifest: bytes | None = MANIFEST) -> bytes:
    base = [entry("forgeml.yaml", manifest)] if manifest is not None else []
    base += [entry("train.py", b"print('hi')\n"), entry("requirements.txt", b"")]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in [*base, *entries]:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def problems(data: bytes, **limits: int) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        inspect_bundle(io.BytesIO(data), **{**LIMITS, **limits})
    return {p["loc"]: p["msg"] for p in info.value.details["errors"]}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "algo"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "forgeml.yaml").write_bytes(MANIFEST)
    (root / "train.py").write_text("print('hi')\n")
    (root / "requirements.txt").write_text("")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.pyc").write_bytes(b"junk")
    (root / "pkg" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
    (root / ".git" / "HEAD").write_text("ref: x\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o700)
    return root


def test_pack_is_deterministic(folder: Path, tmp_path: Path) -> None:
    first, digest = pack_folder(folder, out=tmp_path / "a.tar.gz")
    os.utime(folder / "train.py", (1, 1))
    (folder / "pkg" / "__init__.py").chmod(0o600)
    copy = shutil.copytree(folder, tmp_path / "elsewhere")
    second, digest2 = pack_folder(copy, out=tmp_path / "b.tar.gz")
    assert digest == digest2
    assert digest.startswith("sha256:") and len(digest) == 71
    assert first.read_bytes() == second.read_bytes()
    (copy / "train.py").write_text("print('changed')\n")
    assert pack_folder(copy, out=tmp_path / "c.tar.gz")[1] != digest


def test_pack_skips_caches_and_normalises(folder: Path, tmp_path: Path) -> None:
    path, _ = pack_folder(folder, out=tmp_path / "b.tar.gz")
    with tarfile.open(path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    names = ["forgeml.yaml", "pkg", "pkg/__init__.py", "requirements.txt", "run.sh", "train.py"]
    assert sorted(members) == names
    assert members["run.sh"].mode == 0o755
    assert members["train.py"].mode == 0o644
    assert {(m.uid, m.gid, m.mtime, m.uname) for m in members.values()} == {(0, 0, 0, "")}
    header = path.read_bytes()[:10]
    assert header[4:8] == bytes(4)  # gzip mtime 0
    assert not header[3] & 0x08  # no file name stored


def test_pack_to_temp_file(folder: Path) -> None:
    path, digest = pack_folder(folder)
    try:
        assert path.name.endswith(".tar.gz")
        with path.open("rb") as f:
            assert inspect_bundle(f, **LIMITS).digest == digest
    finally:
        path.unlink()


def test_pack_refuses_links_and_missing_manifest(folder: Path) -> None:
    (folder / "link").symlink_to("train.py")
    with pytest.raises(InvalidInput, match="link is a symbolic link"):
        pack_folder(folder)
    (folder / "link").unlink()
    (folder / "forgeml.yaml").unlink()
    with pytest.raises(InvalidInput, match=r"has no forgeml\.yaml at its root"):
        pack_folder(folder)


def test_inspect_packed_bundle(folder: Path, tmp_path: Path) -> None:
    path, digest = pack_folder(folder, out=tmp_path / "b.tar.gz")
    with path.open("rb") as f:
        info = inspect_bundle(f, **LIMITS)
    assert info.digest == digest
    assert info.size == path.stat().st_size
    assert info.manifest.name == "algo"
    assert info.files == ("forgeml.yaml", "pkg/__init__.py", "requirements.txt", "run.sh",
                          "train.py")  # fmt: skip


def test_inspect_accepts_dot_slash_names(tmp_path: Path, folder: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname=".")  # what `tar czf x.tar.gz -C folder .` produces
    info = inspect_bundle(io.BytesIO(buf.getvalue()), **LIMITS)
    assert "train.py" in info.files
    assert ".git/HEAD" in info.files  # hand-made archives are taken as they are


def test_module_entry_point_needs_no_file() -> None:
    manifest = b"name: a\nversion: 1.0.0\nentry_point: -m somepkg.train\n"
    assert inspect_bundle(io.BytesIO(tar_gz(manifest=manifest)), **LIMITS).manifest.entry.target


def test_executable_entry_point() -> None:
    manifest = b"name: a\nversion: 1.0.0\nentry_point: bin/train\n"
    good = tar_gz(entry("bin/train", b"#!/bin/sh\n", mode=0o755), manifest=manifest)
    assert inspect_bundle(io.BytesIO(good), **LIMITS).manifest.entry.kind == "executable"
    bad = tar_gz(entry("bin/train", b"#!/bin/sh\n", mode=0o644), manifest=manifest)
    assert problems(bad) == {"entry_point": "'bin/train' is not executable (mode 644)"}


LINK = "is a link; bundles cannot contain symbolic or hard links"
DEVICE = "is a device file or FIFO; only files and directories are allowed"


@pytest.mark.parametrize(
    ("bad", "loc", "msg"),
    [
        (entry("/etc/evil.py", b"x"), "bundle", "'/etc/evil.py' is absolute; give a path "
         "relative to the bundle root"),
        (entry("../evil.py", b"x"), "bundle", "'../evil.py' leaves the bundle ('..')"),
        (entry("a/../../evil.py", b"x"), "bundle", "'a/../../evil.py' leaves the bundle ('..')"),
        (entry("a\\evil.py", b"x"), "bundle", "'a\\\\evil.py' contains a backslash or a control "
         "character"),
        (entry("evil", kind=tarfile.SYMTYPE, link="/etc/passwd"), "bundle", f"'evil' {LINK}"),
        (entry("evil", kind=tarfile.LNKTYPE, link="train.py"), "bundle", f"'evil' {LINK}"),
        (entry("dev", kind=tarfile.CHRTYPE), "bundle", f"'dev' {DEVICE}"),
        (entry("blk", kind=tarfile.BLKTYPE), "bundle", f"'blk' {DEVICE}"),
        (entry("fifo", kind=tarfile.FIFOTYPE), "bundle", f"'fifo' {DEVICE}"),
        (entry("train.py", b"second copy"), "bundle", "'train.py' appears twice in the archive"),
        (entry("train.py/x", b"x"), "bundle", "'train.py' is both a file and a directory"),
    ],
)  # fmt: skip
def test_unsafe_members(bad: tuple[tarfile.TarInfo, bytes], loc: str, msg: str) -> None:
    assert problems(tar_gz(bad)) == {loc: msg}


def test_manifest_problems() -> None:
    assert problems(tar_gz(manifest=None)) == {"bundle": "bundle has no forgeml.yaml at its root"}
    found = problems(tar_gz(manifest=b"name: a\nversion: 1.0.0\nentry_point: missing.py\n"))
    assert found == {"entry_point": "'missing.py' is not in the bundle"}
    found = problems(tar_gz(manifest=MANIFEST.replace(b"requirements.txt", b"reqs/gone.txt")))
    assert found == {"requirements": "'reqs/gone.txt' is not in the bundle"}
    found = problems(tar_gz(manifest=b"name: A\nversion: 1.0.0\nentry_point: train.py\n"))
    assert list(found) == ["name"]
    assert problems(tar_gz(manifest=b"name: [\n"))["forgeml.yaml"].startswith("invalid YAML at")
    big = MANIFEST + b"#" * (64 * 1024)
    assert problems(tar_gz(manifest=big)) == {"forgeml.yaml": "is larger than 64 KiB"}


def test_limits() -> None:
    data = tar_gz(entry("blob.bin", os.urandom(50_000)))
    assert problems(data, max_bytes=10_000) == {
        "bundle": "bundle is larger than the limit of 10000 bytes"
    }
    assert problems(data, max_members=3) == {"bundle": "bundle has more than 3 entries"}
    bomb = tar_gz(entry("zeros.bin", bytes(3_000_000)))  # compresses to a few KiB
    assert problems(bomb, max_bytes=100_000) == {
        "bundle": "bundle unpacks to more than 800000 bytes"
    }


@pytest.mark.parametrize(
    "data",
    [b"", b"not a gzip file", gzip.compress(b"not a tar" * 100, mtime=0)],
    ids=["empty", "not-gzip", "gzip-not-tar"],
)
def test_not_an_archive(data: bytes) -> None:
    assert problems(data)["bundle"].startswith("not a readable tar.gz archive")


def test_truncated_archive() -> None:
    data = tar_gz(entry("blob.bin", os.urandom(20_000)))
    assert problems(data[: len(data) // 2])["bundle"].startswith("not a readable tar.gz archive")


def test_inspection_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    problems(tar_gz(entry("../evil.py", b"x"), entry("/tmp/evil-abs.py", b"x")))
    inspect_bundle(io.BytesIO(tar_gz()), **LIMITS)
    assert list(tmp_path.iterdir()) == []
    assert not Path("/tmp/evil-abs.py").exists()


def test_extract(folder: Path, tmp_path: Path) -> None:
    path, digest = pack_folder(folder, out=tmp_path / "b.tar.gz")
    info = extract_bundle(path, tmp_path / "out" / "code")
    code = tmp_path / "out" / "code"
    assert info.digest == digest
    assert (code / "train.py").read_text() == "print('hi')\n"
    assert (code / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (code / "pkg" / "__init__.py").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["code"]
    with pytest.raises(FileExistsError):
        extract_bundle(path, code)


def test_extract_from_fileobj(tmp_path: Path) -> None:
    info = extract_bundle(io.BytesIO(tar_gz()), tmp_path / "code")
    assert info.files == ("forgeml.yaml", "requirements.txt", "train.py")
    assert (tmp_path / "code" / "forgeml.yaml").read_bytes() == MANIFEST


@pytest.mark.parametrize(
    "data",
    [
        tar_gz(entry("ok.py", b"x"), entry("../escaped.py", b"x")),
        tar_gz(entry("ok.py", b"x"), entry("link", kind=tarfile.SYMTYPE, link="/")),
        tar_gz(entry("ok.py", b"x"), manifest=b"name: a\nversion: 1.0.0\nentry_point: gone.py\n"),
        tar_gz(entry("ok.py", b"x"), manifest=None),
        tar_gz(entry("ok.py", os.urandom(100_000))),
    ],
    ids=["traversal", "symlink", "entry-point-missing", "no-manifest", "too-big"],
)
def test_extract_bad_bundle_leaves_nothing(data: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "work" / "code"
    with pytest.raises(InvalidInput):
        extract_bundle(io.BytesIO(data), dest, max_bytes=50_000)
    assert list((tmp_path / "work").iterdir()) == []
    assert not (tmp_path / "escaped.py").exists()
    assert not (tmp_path / "work" / "escaped.py").exists()


def test_read_errors_are_not_invalid_input() -> None:
    class Broken(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        inspect_bundle(Broken(), **LIMITS)

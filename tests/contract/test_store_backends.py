"""Backend-specific promises around the shared contract: the URL registry, key helpers, the
file backend's on-disk atomicity and layout, and the s3 backend's failure mapping and paging.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from forgeml.config import S3Settings
from forgeml.domain.errors import Conflict, InvalidInput, NotFound, Unavailable
from forgeml.storage import check_prefix, join_key, open_store, read_bytes, register_backend
from forgeml.storage.base import ObjectStore
from forgeml.storage.local import FileObjectStore
from forgeml.storage.memory import MemoryObjectStore
from tests.support.seaweedfs import SeaweedFS, free_ports

# -- registry and keys ------------------------------------------------------------------------


def test_open_store_by_scheme(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/objects")
    assert isinstance(store, FileObjectStore)
    assert store.describe() == f"file://{tmp_path}/objects"
    memory = open_store("memory://unit")
    assert isinstance(memory, MemoryObjectStore)
    assert memory.describe() == "memory://unit"
    memory.put("k", b"x")
    assert not open_store("memory://unit").exists("k")  # every memory store starts empty


@pytest.mark.parametrize(
    "url",
    [
        "ftp://host/x",
        "no-scheme",
        "file://relative/path",
        "file:///abs?x=1",
        "s3://A_B",
        "s3://u:p@bkt",
    ],
)
def test_bad_storage_urls(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        open_store(url)
    assert "p@" not in caught.value.message


def test_unknown_scheme_lists_known_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        open_store("gs://bucket")
    assert {"file", "s3", "memory"} <= set(caught.value.details["known_schemes"])
    assert "s3://" in caught.value.message


def test_register_backend() -> None:
    made: list[str] = []

    def factory(url: str, s3: S3Settings | None) -> ObjectStore:
        made.append(url)
        return MemoryObjectStore("custom")

    register_backend("custom-test", factory)
    assert open_store("custom-test://x").describe() == "memory://custom"
    assert made == ["custom-test://x"]


def test_join_key_and_prefixes() -> None:
    assert join_key("tenants", "tnt_1", "datasets", "ds_1", "v3", "img/a.png") == (
        "tenants/tnt_1/datasets/ds_1/v3/img/a.png"
    )
    for parts in [(), ("a", ""), ("a", "../b"), ("/a",), ("a", "b/")]:
        with pytest.raises(InvalidInput):
            join_key(*parts)
    for ok in ("", "a", "a/", "a/b", "a/.", "a/b-"):
        assert check_prefix(ok) == ok
    for bad in ("/a", "a//b", "../a", "a\\b", ".forgeml-store", "a\x00"):
        with pytest.raises(InvalidInput):
            check_prefix(bad)


# -- file backend -----------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> FileObjectStore:
    return FileObjectStore(tmp_path / "root")


def _staged(root: Path) -> list[str]:
    return sorted(p.name for p in (root / ".forgeml-store" / "tmp").iterdir())


def test_file_failing_stream_leaves_no_trace(files: FileObjectStore, tmp_path: Path) -> None:
    def broken() -> Iterator[bytes]:
        yield b"half of the "
        raise ConnectionResetError("client went away")

    class Source(io.RawIOBase):
        def __init__(self) -> None:
            self.chunks = broken()

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return next(self.chunks)

    with pytest.raises(ConnectionResetError):
        files.put("a/b", Source())  # type: ignore[arg-type]
    assert not files.exists("a/b")
    assert not (tmp_path / "root" / "a" / "b").exists()
    assert _staged(tmp_path / "root") == []


def test_file_layout_and_local_path(files: FileObjectStore, tmp_path: Path) -> None:
    files.put("d/x.bin", b"payload")
    upload_id = files.create_multipart("d/y.bin")
    files.upload_part("d/y.bin", upload_id, 1, b"part")
    (tmp_path / "root" / ".forgeml-store" / "tmp" / "put-leftover").write_bytes(b"junk")
    assert [o.key for o in files.list()] == ["d/x.bin"]  # staging never listed
    path = files.local_path("d/x.bin")
    assert path == tmp_path / "root" / "d" / "x.bin"
    assert path is not None and path.read_bytes() == b"payload"
    with pytest.raises(NotFound):
        files.local_path("d/missing")
    assert MemoryObjectStore().local_path("d/x.bin") is None
    files.delete("d/x.bin")
    assert not (tmp_path / "root" / "d").exists() or not any((tmp_path / "root" / "d").iterdir())


def test_file_key_folder_collision_is_conflict(files: FileObjectStore) -> None:
    files.put("a", b"x")
    with pytest.raises(Conflict):
        files.put("a/b", b"y")
    files.put("c/d", b"y")
    with pytest.raises(Conflict):
        files.put("c", b"x")


def test_file_stale_sidecar_is_rebuilt(files: FileObjectStore, tmp_path: Path) -> None:
    info = files.put("k", b"content", content_type="text/plain")
    for sidecar in (tmp_path / "root" / ".forgeml-store" / "meta").rglob("*.json"):
        record = json.loads(sidecar.read_text())
        sidecar.write_text(json.dumps({**record, "etag": "0" * 32, "ino": -1}))
    healed = files.head("k")
    assert healed.etag == info.etag  # rebuilt from the file's stat, not trusted from the sidecar
    assert files.head("k").etag == info.etag


def test_file_store_unwritable_root(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(Unavailable):
        FileObjectStore(blocker / "root").ping()
    if os.geteuid() != 0:  # root ignores permissions
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(Unavailable):
            FileObjectStore(ro / "root").ping()


# -- s3 backend -------------------------------------------------------------------------------


@pytest.mark.s3
def test_s3_through_open_store(seaweedfs: SeaweedFS, s3_bucket: str) -> None:
    settings = seaweedfs.s3_settings()
    store = open_store(f"s3://{s3_bucket}/via-url/prefix", settings)
    store.ping()
    store.put("k", b"x")
    assert read_bytes(store, "k") == b"x"
    assert "via-url/prefix" in store.describe()
    assert seaweedfs.secret_key not in store.describe()
    raw = seaweedfs.client().get_object(Bucket=s3_bucket, Key="via-url/prefix/k")
    assert raw["Body"].read() == b"x"


@pytest.mark.s3
def test_s3_list_paginates(make_s3_store: Callable[..., ObjectStore]) -> None:
    store = make_s3_store(page_size=2)
    keys = [f"p/{i}" for i in range(5)] + ["p/d/a", "p/d/b", "p/d/c", "p-x", "q"]
    for key in keys:
        store.put(key, b"x")
    assert [o.key for o in store.list()] == sorted(keys)
    assert store.delete_prefix("p/") == 8
    assert [o.key for o in store.list()] == ["p-x", "q"]


@pytest.mark.s3
def test_s3_failures_map_to_forge_errors(seaweedfs: SeaweedFS) -> None:
    good = seaweedfs.s3_settings()
    closed = S3Settings(endpoint_url=f"http://127.0.0.1:{free_ports(1)[0]}")
    with pytest.raises(Unavailable):
        open_store("s3://any-bucket", closed).ping()
    with pytest.raises(Unavailable):
        open_store("s3://any-bucket", closed).put("k", b"x")
    with pytest.raises(Unavailable):
        open_store("s3://no-such-bucket-here", good).ping()
    wrong = good.model_copy(update={"secret_access_key": good.access_key_id})
    with pytest.raises(Unavailable):
        open_store("s3://forgeml-contract", wrong).ping()

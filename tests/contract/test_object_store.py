"""The ObjectStore contract, run identically against memory, file and s3 (real SeaweedFS):
whole objects, ranges, listing, deletion, copies, streaming, atomicity and key safety.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from forgeml.domain.errors import InvalidInput, NotFound
from forgeml.storage import read_bytes
from forgeml.storage.base import CHUNK_SIZE, ObjectStore
from forgeml.storage.local import FileObjectStore

MIB = 1024 * 1024
DATA = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def content_etag(store: ObjectStore, data: bytes, etag: str) -> bool:
    """S3 and memory etags are the md5 of the bytes; the file store's is its file's fingerprint
    (inode-size-mtime in hex: no content hash on the write path)."""
    if isinstance(store, FileObjectStore):
        return re.fullmatch(r"[0-9a-f]+-([0-9a-f]+)-[0-9a-f]+", etag) is not None and int(
            etag.split("-")[1], 16
        ) == len(data)
    return etag == md5(data)


# A non-repeating-looking pattern whose period (1 MiB + 7) is not a multiple of any chunk size.
_BASE = random.Random(7).randbytes(MIB + 7)
_TWICE = _BASE + _BASE


class PatternStream(io.RawIOBase):
    """A large deterministic stream that records how it is read (never materialised whole)."""

    def __init__(self, size: int, fail_after: int | None = None) -> None:
        self.size, self.pos, self.fail_after = size, 0, fail_after
        self.max_read = 0
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self.max_read = max(self.max_read, len(buffer))
        if self.fail_after is not None and self.pos >= self.fail_after:
            raise OSError("client went away")
        n = min(len(buffer), self.size - self.pos, len(_BASE))
        offset = self.pos % len(_BASE)
        chunk = _TWICE[offset : offset + n]
        buffer[:n] = chunk
        self.digest.update(chunk)
        self.pos += n
        return n


def test_put_then_read_back_with_metadata(store: ObjectStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    info = store.put("a/b/c.bin", DATA, content_type="image/png")
    assert (info.key, info.size, info.content_type) == ("a/b/c.bin", len(DATA), "image/png")
    assert content_etag(store, DATA, info.etag)
    assert info.last_modified.tzinfo is not None
    assert info.last_modified >= before
    assert store.head("a/b/c.bin") == info
    assert read_bytes(store, "a/b/c.bin") == DATA
    assert store.exists("a/b/c.bin")


def test_put_stream_defaults_and_overwrite(store: ObjectStore) -> None:
    first = store.put("k", io.BytesIO(b"first version"))
    assert first.content_type == "application/octet-stream"
    second = store.put("k", io.BytesIO(b"second"), content_type="text/csv", size=6)
    assert read_bytes(store, "k") == b"second"
    assert store.head("k").content_type == "text/csv"
    assert content_etag(store, b"second", second.etag) and second.etag != first.etag


def test_empty_object(store: ObjectStore) -> None:
    info = store.put("empty", b"")
    assert info.size == 0 and content_etag(store, b"", info.etag)
    assert read_bytes(store, "empty") == b""


@pytest.mark.parametrize("declared", [5, 50])
def test_put_with_wrong_size_stores_nothing(store: ObjectStore, declared: int) -> None:
    store.put("k", b"old")
    with pytest.raises(InvalidInput):
        store.put("k", io.BytesIO(b"0123456789"), size=declared)
    assert read_bytes(store, "k") == b"old"
    with pytest.raises(InvalidInput):
        store.put("fresh", b"0123456789", size=declared)
    assert not store.exists("fresh")


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 0, DATA[0:1]),
        (5, 9, DATA[5:10]),
        (10_000, None, DATA[10_000:]),
        (None, 99, DATA[:100]),
        (10_000, 99_999, DATA[10_000:]),  # end past the object is clamped
        (len(DATA) - 1, None, DATA[-1:]),
    ],
)
def test_range_reads_are_inclusive(
    store: ObjectStore, start: int | None, end: int | None, expected: bytes
) -> None:
    store.put("r", DATA)
    assert read_bytes(store, "r", start=start, end=end) == expected


@pytest.mark.parametrize(("start", "end"), [(len(DATA), None), (20_000, 30_000), (9, 5), (-1, 3)])
def test_unsatisfiable_ranges_are_invalid(
    store: ObjectStore, start: int | None, end: int | None
) -> None:
    store.put("r", DATA)
    with pytest.raises(InvalidInput):
        read_bytes(store, "r", start=start, end=end)


def test_missing_objects(store: ObjectStore) -> None:
    store.put("present/x", b"x")
    for key in ("absent", "present", "present/x/deeper"):
        with pytest.raises(NotFound):
            store.head(key)
        with pytest.raises(NotFound), store.open(key):
            pass
        with pytest.raises(NotFound):
            store.copy(key, "dst")
        assert not store.exists(key)
        store.delete(key)  # idempotent, no error
    assert read_bytes(store, "present/x") == b"x"


def test_list_is_sorted_filtered_and_complete(store: ObjectStore) -> None:
    keys = ["b/2", "a/x/1", "a-c", "a/b", "a/x/0", "ab", "c", "a/ü nicode +%.txt"]
    for i, key in enumerate(keys):
        store.put(key, b"x" * i)
    listed = list(store.list())
    assert [o.key for o in listed] == sorted(keys, key=lambda k: k.encode())
    assert [o.key for o in store.list("a/")] == ["a/b", "a/x/0", "a/x/1", "a/ü nicode +%.txt"]
    assert [o.key for o in store.list("a")] == [
        "a-c",
        "a/b",
        "a/x/0",
        "a/x/1",
        "a/ü nicode +%.txt",
        "ab",
    ]
    assert [o.key for o in store.list("a/x/")] == ["a/x/0", "a/x/1"]
    assert list(store.list("zzz")) == []
    by_key = {o.key: o for o in listed}
    assert by_key["a/x/1"].size == keys.index("a/x/1")
    assert by_key["a/x/1"].etag == store.head("a/x/1").etag
    assert content_etag(store, b"x" * keys.index("a/x/1"), by_key["a/x/1"].etag)
    assert all(o.content_type is None for o in listed)  # documented: listings carry no type
    assert read_bytes(store, "a/ü nicode +%.txt") == b"x" * 7


def test_delete_and_delete_prefix(store: ObjectStore) -> None:
    for key in ("t/1/a", "t/1/b/c", "t/10/a", "t/2/a"):
        store.put(key, b"x")
    store.delete("t/2/a")
    assert not store.exists("t/2/a")
    assert store.delete_prefix("t/1/") == 2
    assert [o.key for o in store.list()] == ["t/10/a"]
    assert store.delete_prefix("t/1/") == 0
    with pytest.raises(InvalidInput):
        store.delete_prefix("")


def test_copy_keeps_bytes_and_type(store: ObjectStore) -> None:
    store.put("src/a", DATA, content_type="text/csv")
    store.put("dst/a", b"to be replaced")
    info = store.copy("src/a", "dst/a")
    assert (info.key, info.size, info.etag, info.content_type) == (
        "dst/a",
        len(DATA),
        store.head("src/a").etag,
        "text/csv",
    )
    assert content_etag(store, DATA, info.etag)
    assert read_bytes(store, "dst/a") == DATA
    assert read_bytes(store, "src/a") == DATA


def test_streams_20_mib_without_reading_it_whole(store: ObjectStore) -> None:
    size = 20 * MIB + 123
    source = PatternStream(size)
    info = store.put("big/object.bin", io.BufferedReader(source, CHUNK_SIZE), size=size)
    assert info.size == size
    assert source.max_read <= 8 * MIB  # chunked: never one read of the whole stream
    digest, chunks = hashlib.sha256(), 0
    with store.open("big/object.bin") as stream:
        for chunk in stream:
            assert len(chunk) <= 8 * MIB
            digest.update(chunk)
            chunks += 1
    assert digest.hexdigest() == source.digest.hexdigest()
    assert chunks >= 3
    tail = read_bytes(store, "big/object.bin", start=size - 10)
    assert len(tail) == 10


@pytest.mark.parametrize("fail_after", [0, 3 * MIB, 10 * MIB])
def test_failing_stream_leaves_no_object(store: ObjectStore, fail_after: int) -> None:
    store.put("keep/old", b"old")
    for key in ("keep/old", "keep/new"):
        source = PatternStream(20 * MIB, fail_after=fail_after)
        with pytest.raises(OSError, match="client went away"):
            store.put(key, io.BufferedReader(source, CHUNK_SIZE))
    assert read_bytes(store, "keep/old") == b"old"
    assert not store.exists("keep/new")
    assert [o.key for o in store.list()] == ["keep/old"]
    assert store.list_multipart_uploads() == []


BAD_KEYS = [
    "",
    "/abs",
    "a/../b",
    "..",
    "a/./b",
    "a//b",
    "trailing/",
    "back\\slash",
    "nul\x00byte",
    "new\nline",
    "del\x7f",
    "x" * 1025,
    "é" * 513,  # 1026 UTF-8 bytes
    ".forgeml-store/tmp/x",
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_unsafe_keys_are_refused_everywhere(store: ObjectStore, key: str) -> None:
    store.put("ok", b"x")
    attempts = [
        lambda: store.put(key, b"x"),
        lambda: store.head(key),
        lambda: store.exists(key),
        lambda: store.open(key).__enter__(),
        lambda: store.delete(key),
        lambda: store.copy("ok", key),
        lambda: store.copy(key, "ok2"),
        lambda: store.create_multipart(key),
        lambda: store.local_path(key),
        lambda: store.presign_get(key, 60),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidInput):
            attempt()
    assert [o.key for o in store.list()] == ["ok"]


def test_long_key(store: ObjectStore) -> None:
    # 1000 bytes: the s3 leg's store prefix (documented to count against S3's 1024) still fits.
    head = "/".join(["d" * 200] * 4) + "/"  # segments stay under the usual NAME_MAX of 255
    key = head + "k" * (1000 - len(head))
    store.put(key, b"x")
    assert [o.key for o in store.list()] == [key]


def test_ping_and_describe(store: ObjectStore) -> None:
    store.ping()
    description = store.describe()
    assert description.split("://")[0] in ("memory", "file", "s3")
    assert "secret" not in description.lower()

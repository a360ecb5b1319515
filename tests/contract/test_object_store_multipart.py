"""The ObjectStore contract for multipart uploads (resume, complete, abort, GC listing) and for
presigned URLs, which the s3 leg exercises over real HTTP with httpx.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable

import httpx
import pytest

from forgeml.domain.errors import InvalidInput, NotFound
from forgeml.storage import MIN_PART_SIZE, read_bytes
from forgeml.storage.base import ObjectStore, PartInfo

P1 = b"\x01" * MIN_PART_SIZE
P2 = bytes(range(256)) * (MIN_PART_SIZE // 256)
TAIL = b"tail-bytes" * 100


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def s3_multipart_etag(*parts: bytes) -> str:
    return (
        f"{hashlib.md5(b''.join(hashlib.md5(p).digest() for p in parts)).hexdigest()}-{len(parts)}"
    )


def upload_three(store: ObjectStore, key: str) -> tuple[str, list[PartInfo]]:
    """Start an upload and send parts out of order (3, 1, 2), one of them as a stream."""
    upload_id = store.create_multipart(key, content_type="application/x-tar")
    third = store.upload_part(key, upload_id, 3, TAIL)
    first = store.upload_part(key, upload_id, 1, io.BytesIO(P1))
    second = store.upload_part(key, upload_id, 2, P2)
    return upload_id, [first, second, third]


def test_multipart_round_trip_with_resume(store: ObjectStore) -> None:
    key = "jobs/j1/model.tar.gz"
    upload_id, sent = upload_three(store, key)
    assert sent[0] == PartInfo(1, md5(P1), len(P1))
    assert sent[2] == PartInfo(3, md5(TAIL), len(TAIL))
    # What a resuming client sees: every part, by number, with etag and size.
    assert store.list_parts(key, upload_id) == sent
    assert [(u.key, u.upload_id) for u in store.list_multipart_uploads("jobs/")] == [
        (key, upload_id)
    ]
    assert not store.exists(key)  # nothing visible before completion
    info = store.complete_multipart(key, upload_id)
    assert info.size == len(P1) + len(P2) + len(TAIL)
    assert info.etag == s3_multipart_etag(P1, P2, TAIL)
    assert info.content_type == "application/x-tar"
    assert read_bytes(store, key) == P1 + P2 + TAIL
    assert read_bytes(store, key, start=len(P1) - 2, end=len(P1) + 1) == P1[-2:] + P2[:2]
    assert store.list_multipart_uploads() == []
    with pytest.raises(NotFound):
        store.list_parts(key, upload_id)
    with pytest.raises(NotFound):
        store.complete_multipart(key, upload_id)


def test_complete_sorts_parts_given_out_of_order(store: ObjectStore) -> None:
    upload_id, sent = upload_three(store, "k")
    info = store.complete_multipart("k", upload_id, list(reversed(sent)))
    assert info.etag == s3_multipart_etag(P1, P2, TAIL)
    assert read_bytes(store, "k") == P1 + P2 + TAIL


def test_complete_rejects_bad_part_lists_and_keeps_the_upload(store: ObjectStore) -> None:
    upload_id, (first, second, third) = upload_three(store, "k")
    bad_lists = [
        [first, PartInfo(2, md5(b"other"), len(P2)), third],  # etag differs
        [first, second, PartInfo(4, md5(TAIL), len(TAIL))],  # never uploaded
        [first, first, third],  # duplicate
        [first, third, second][:0],  # empty
    ]
    for parts in bad_lists:
        with pytest.raises(InvalidInput):
            store.complete_multipart("k", upload_id, parts)
    assert not store.exists("k")
    # The upload survived every refusal; a subset (1, 3) is a valid object.
    info = store.complete_multipart("k", upload_id, [third, first])
    assert info.size == len(P1) + len(TAIL)
    assert read_bytes(store, "k") == P1 + TAIL


def test_small_parts_only_at_the_end(store: ObjectStore) -> None:
    upload_id = store.create_multipart("k")
    store.upload_part("k", upload_id, 1, b"small")
    store.upload_part("k", upload_id, 2, TAIL)
    with pytest.raises(InvalidInput):
        store.complete_multipart("k", upload_id)
    only = store.complete_multipart("k", upload_id, store.list_parts("k", upload_id)[:1])
    assert only.size == len(b"small")


def test_reuploading_a_part_replaces_it(store: ObjectStore, backend: str) -> None:
    upload_id = store.create_multipart("k")
    store.upload_part("k", upload_id, 1, b"first try")
    store.upload_part("k", upload_id, 2, b"keep")
    again = store.upload_part("k", upload_id, 1, b"second try!")
    # An explicit part list always picks the right upload of a part number...
    info = store.complete_multipart("k", upload_id, [again])
    assert read_bytes(store, "k") == b"second try!"
    assert info.size == len(b"second try!")

    upload_id = store.create_multipart("k")
    store.upload_part("k", upload_id, 1, b"first try")
    if backend == "s3":
        # ...but SeaweedFS lists every upload of a part number, stamped to the second only:
        # list_parts can name the newest one only when they are a second apart.
        time.sleep(2.1)  # generous: a loaded CI machine stretches "one second"
    again = store.upload_part("k", upload_id, 1, b"second try")
    assert store.list_parts("k", upload_id) == [again]
    store.complete_multipart("k", upload_id)
    assert read_bytes(store, "k") == b"second try"


def test_abort_is_final_and_idempotent(store: ObjectStore) -> None:
    upload_id = store.create_multipart("k")
    store.upload_part("k", upload_id, 1, b"x")
    store.abort_multipart("k", upload_id)
    store.abort_multipart("k", upload_id)
    assert store.list_multipart_uploads() == []
    with pytest.raises(NotFound):
        store.list_parts("k", upload_id)
    with pytest.raises(NotFound):
        store.upload_part("k", upload_id, 2, b"y")
    with pytest.raises(NotFound):
        store.complete_multipart("k", upload_id)
    assert not store.exists("k")


def test_unknown_uploads_and_part_numbers(store: ObjectStore) -> None:
    upload_id = store.create_multipart("k")
    for uid in ("0" * 32, "../../etc", "not-an-id"):
        with pytest.raises(NotFound):
            store.list_parts("k", uid)
        with pytest.raises(NotFound):
            store.upload_part("k", uid, 1, b"x")
    with pytest.raises(NotFound):
        store.list_parts("other-key", upload_id)  # an upload belongs to its key
    for number in (0, 10_001):
        with pytest.raises(InvalidInput):
            store.upload_part("k", upload_id, number, b"x")


def test_list_multipart_uploads_for_gc(store: ObjectStore) -> None:
    a = store.create_multipart("t/1/a")
    b = store.create_multipart("t/2/b")
    c = store.create_multipart("t/1/a")
    found = store.list_multipart_uploads("t/1/")
    assert sorted(u.upload_id for u in found) == sorted([a, c])
    assert all(u.key == "t/1/a" and u.initiated.tzinfo is not None for u in found)
    assert [u.upload_id for u in store.list_multipart_uploads("t/2")] == [b]


# -- presigned URLs ---------------------------------------------------------------------------


def test_presign_capability(store: ObjectStore, backend: str) -> None:
    assert store.supports_presign == (backend == "s3")
    upload_id = store.create_multipart("k")
    urls = [
        store.presign_get("k", 60),
        store.presign_put("k", 60),
        store.presign_upload_part("k", upload_id, 1, 60),
    ]
    assert all((url is not None) == store.supports_presign for url in urls)
    for expiry in (0, 8 * 24 * 3600):
        with pytest.raises(InvalidInput):
            store.presign_get("k", expiry)


@pytest.fixture
def s3_store(make_s3_store: Callable[..., ObjectStore]) -> ObjectStore:
    return make_s3_store()


@pytest.mark.s3
def test_presigned_get_and_tampering(s3_store: ObjectStore) -> None:
    s3_store.put("files/report.csv", b"a,b\n1,2\n", content_type="text/csv")
    url = s3_store.presign_get("files/report.csv", 60, filename="rapport é.csv")
    assert url is not None
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"a,b\n1,2\n"
    assert "attachment" in response.headers["content-disposition"]
    assert "rapport%20%C3%A9.csv" in response.headers["content-disposition"]
    tampered = [
        url.replace("files/report.csv", "files/report.csX"),
        url.replace("X-Amz-Signature=", "X-Amz-Signature=0"),
        url.replace("X-Amz-Expires=60", "X-Amz-Expires=6000"),
    ]
    for bad in tampered:
        assert bad != url
        assert httpx.get(bad).status_code == 403


@pytest.mark.s3
def test_presigned_put_and_upload_part(s3_store: ObjectStore) -> None:
    url = s3_store.presign_put("in/put.bin", 60)
    assert url is not None
    assert httpx.put(url, content=b"via presigned put").status_code == 200
    assert read_bytes(s3_store, "in/put.bin") == b"via presigned put"
    assert httpx.put(url + "0", content=b"evil").status_code == 403

    upload_id = s3_store.create_multipart("in/multi.bin")
    for number, body in ((1, P1), (2, TAIL)):
        part_url = s3_store.presign_upload_part("in/multi.bin", upload_id, number, 60)
        assert part_url is not None
        answer = httpx.put(part_url, content=body)
        assert answer.status_code == 200
        assert answer.headers["etag"].strip('"') == md5(body)
    assert [p.part_number for p in s3_store.list_parts("in/multi.bin", upload_id)] == [1, 2]
    s3_store.complete_multipart("in/multi.bin", upload_id)
    assert read_bytes(s3_store, "in/multi.bin") == P1 + TAIL

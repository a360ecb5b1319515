"""Contract-test fixtures: one `store` fixture parametrized over every ObjectStore backend.

memory and file run everywhere; s3 runs against a real SeaweedFS (`seaweedfs` fixture), each test
under its own key prefix of one session bucket.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from forgeml.storage.base import ObjectStore
from forgeml.storage.local import FileObjectStore
from forgeml.storage.memory import MemoryObjectStore
from tests.support.seaweedfs import SeaweedFS

MIB = 1024 * 1024
BACKENDS = ["memory", "file", pytest.param("s3", marks=pytest.mark.s3)]


@pytest.fixture(scope="session")
def s3_bucket(seaweedfs: SeaweedFS) -> str:
    return seaweedfs.create_bucket("forgeml-contract")


@pytest.fixture
def make_s3_store(seaweedfs: SeaweedFS, s3_bucket: str) -> Callable[..., ObjectStore]:
    """Build an S3 store under a fresh prefix; keyword arguments go to `S3ObjectStore`."""
    from forgeml.storage.s3 import S3ObjectStore

    def make(**kwargs: object) -> ObjectStore:
        prefix = f"t-{secrets.token_hex(6)}/data"
        settings = seaweedfs.s3_settings()
        return S3ObjectStore(s3_bucket, prefix, settings, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ObjectStore]:
    """A fresh, empty store of each kind.

    The s3 store uses 8 MiB transfer chunks (the default is 64 MiB) so that a ~20 MiB `put`
    exercises the multipart path of `upload_fileobj`.
    """
    if backend == "memory":
        yield MemoryObjectStore("contract")
    elif backend == "file":
        yield FileObjectStore(tmp_path / "objects")
    else:
        make = request.getfixturevalue("make_s3_store")
        s3_store = make(multipart_chunksize=8 * MIB)
        yield s3_store
        for upload in s3_store.list_multipart_uploads():
            s3_store.abort_multipart(upload.key, upload.upload_id)

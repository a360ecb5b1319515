"""A hostile tenant's job rewrites its staged input files: the stored object, which other jobs and
tenants download later, must keep its bytes (item 6 of issue 10), in every sandbox mode.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.services.container import Services
from forgeml.storage.base import read_bytes
from tests.support.jobs import job_body, register_algorithm, run_to_end, submit, upload_dataset
from tests.support.platform_jobs import (
    artifact,
    file_store,
    grant,
    settings_for_mode,
)
from tests.support.world import World

ORIGINAL = b"label,x\n1,0.5\n0,0.25\n"

# Tries every way a process of the launcher's user has to change a staged file in place.
POISONER = """
import json, os
train = os.environ["SM_CHANNEL_TRAIN"]
tried = {}
for name in sorted(os.listdir(train)):
    path = os.path.join(train, name)
    for how in ("chmod", "rewrite", "truncate", "append"):
        try:
            if how == "chmod":
                os.chmod(path, 0o666)
            elif how == "rewrite":
                with open(path, "r+b") as f:
                    f.write(b"POISONED")
            elif how == "truncate":
                os.truncate(path, 1)
            else:
                with open(path, "ab") as f:
                    f.write(b"POISONED")
            tried[how] = "allowed"
        except OSError as exc:
            tried[how] = type(exc).__name__
json.dump(tried, open(os.path.join(os.environ["SM_MODEL_DIR"], "tried.json"), "w"))
"""

# An ordinary algorithm: copies what it was given into its model.
READER = """
import os, shutil
train = os.environ["SM_CHANNEL_TRAIN"]
for name in os.listdir(train):
    shutil.copyfile(os.path.join(train, name), os.path.join(os.environ["SM_MODEL_DIR"], name))
"""


@pytest.fixture(params=["off", "required"])
def settings(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    database: Database,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    envs = tmp_path_factory.getbasetemp() / "security-staging-envs"
    return settings_for_mode(request.param, tmp_path, database.url, envs)


@pytest.fixture
def services(settings: Settings, database: Database) -> Iterator[Services]:
    svc = Services.build(settings, database, file_store(settings))
    yield svc
    svc.job_runs.shutdown(30)


def _stored_file(world: World, dataset_id: str) -> tuple[str, Path]:
    keys = [
        i.key for i in world.services.store.list("") if dataset_id in i.key and "/files/" in i.key
    ]
    assert len(keys) == 1, keys
    path = world.services.store.local_path(keys[0])
    assert path is not None
    return keys[0], Path(path)


def test_job_writing_its_input_files_cannot_change_the_stored_object(world: World) -> None:
    shared = upload_dataset(
        world, world.admin, "shared-rows", {"rows.csv": ORIGINAL}, kind="platform"
    )
    grant(world, shared, world.a.id)
    grant(world, shared, world.b.id)
    key, stored = _stored_file(world, shared)
    inode = stored.stat().st_ino

    poisoner = register_algorithm(world, "poisoner", train=POISONER)["id"]
    attack = submit(world, world.a.h(), job_body("poison", poisoner, shared, hyperparameters={}))
    assert run_to_end(world, attack["id"])["status"] == "Completed"
    tried = json.loads(artifact(world, world.a.h(), attack["id"], "model.tar.gz")["tried.json"])
    assert set(tried) == {"chmod", "rewrite", "truncate", "append"}  # the attack really ran

    assert read_bytes(world.services.store, key) == ORIGINAL
    assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(ORIGINAL).digest()
    assert stored.stat().st_ino == inode
    assert stored.stat().st_nlink == 1, "a staged hard link to the stored object survived"

    # Tenant B's later job gets the original bytes.
    reader = register_algorithm(world, "reader", train=READER)["id"]
    victim = submit(world, world.b.h(), job_body("read", reader, shared, hyperparameters={}))
    assert run_to_end(world, victim["id"])["status"] == "Completed"
    assert artifact(world, world.b.h(), victim["id"], "model.tar.gz")["rows.csv"] == ORIGINAL

"""Tenant checkpoint locations through the API: CRUD, browse and download, quota, and jobs that
restore from and sync into a location (a second job resumes; links are never followed).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from forgeml.config import Settings
from forgeml.db.engine import Database
from tests.support.algorithms import register, tar_gz
from tests.support.checkpoints import LOCATIONS, create_location, put_file
from tests.support.jobs import (
    JOBS,
    describe,
    job_settings,
    logs_text,
    register_fixture,
    run_to_end,
    submit,
)
from tests.support.world import World


@pytest.fixture
def settings(tmp_path: Path, database: Database, envs_dir: Path) -> Settings:
    return job_settings(tmp_path, database.url, envs_dir)


def files_of(world: World, loc_id: str, **params: Any) -> list[dict[str, Any]]:
    resp = world.client.get(f"{LOCATIONS}/{loc_id}/files", params=params, headers=world.a.h())
    assert resp.status_code == 200, resp.text
    return list(resp.json()["items"])


def test_create_list_browse_download_delete(world: World) -> None:
    c, h = world.client, world.a.h()
    loc = create_location(world, h, "churn-ckpt")
    assert (loc["file_count"], loc["size_bytes"], loc["last_job_id"]) == (0, 0, None)
    assert c.post(LOCATIONS, json={"name": "churn-ckpt"}, headers=h).status_code == 409
    for bad in ("", "../x", "a b", "ckpt_01abc", "x" * 101):
        assert c.post(LOCATIONS, json={"name": bad}, headers=h).status_code == 422, bad
    assert c.post(LOCATIONS, json={"name": "v"}, headers=world.a.h("viewer")).status_code == 403
    put_file(world, loc, "state.json", b'{"step": 2}')  # not in path order: the listing sorts
    put_file(world, loc, "model/epoch-2.pt", b"weights")
    got = c.get(f"{LOCATIONS}/{loc['id']}", headers=world.a.h("viewer")).json()
    assert (got["file_count"], got["size_bytes"]) == (2, 18)
    assert [f["path"] for f in files_of(world, loc["id"])] == ["model/epoch-2.pt", "state.json"]
    assert [f["path"] for f in files_of(world, loc["id"], prefix="model/")] == ["model/epoch-2.pt"]
    page = files_of(world, loc["id"], limit=1)
    assert len(page) == 1
    resp = c.get(f"{LOCATIONS}/{loc['id']}/files/state.json", headers=h)
    assert resp.status_code == 200 and resp.content == b'{"step": 2}'
    assert c.get(f"{LOCATIONS}/{loc['id']}/files/nope", headers=h).status_code == 404
    assert c.get(f"{LOCATIONS}/{loc['id']}/files/../state.json", headers=h).status_code == 404
    resp = c.get(f"{LOCATIONS}/{loc['id']}/archive", headers=h)
    with tarfile.open(fileobj=io.BytesIO(resp.content)) as tar:
        names = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert names == {"model/epoch-2.pt": b"weights", "state.json": b'{"step": 2}'}
    listed = c.get(LOCATIONS, headers=h).json()["items"]
    assert [x["name"] for x in listed] == ["churn-ckpt"]
    usage = c.get("/api/v1/datasets/usage", headers=h).json()
    assert usage["checkpoint_bytes"] == 18 and usage["used_bytes"] >= 18
    assert c.delete(f"{LOCATIONS}/{loc['id']}", headers=world.a.h("viewer")).status_code == 403
    assert c.delete(f"{LOCATIONS}/{loc['id']}", headers=h).status_code == 204
    assert c.get(f"{LOCATIONS}/{loc['id']}", headers=h).status_code == 404
    assert list(world.services.store.list(f"tenants/{world.a.id}/checkpoints/")) == []


def test_checkpoint_config_is_validated(world: World) -> None:
    v = register_fixture(world, "checkpoint-resume")
    create_location(world, world.a.h(), "mine")
    b_loc = create_location(world, world.b.h(), "theirs")
    cases = {
        "/tmp/ckpt": "checkpoint_config.local_path",
        "/opt/ml/../etc": "checkpoint_config.local_path",
        "/opt/ml/model/ckpt": "checkpoint_config.local_path",
        "/opt/ml/ck//x": "checkpoint_config.local_path",
        "opt/ml/checkpoints": "checkpoint_config.local_path",
    }
    for path, loc in cases.items():
        body = {"name": "bad", "algorithm": v["id"]}
        body["checkpoint_config"] = {"location": "mine", "local_path": path}
        resp = world.client.post(JOBS, json=body, headers=world.a.h())
        assert resp.status_code == 422, path
        assert [e["loc"] for e in resp.json()["error"]["details"]["errors"]] == [loc], path
    for ref in ("no-such-location", b_loc["id"], "theirs"):
        body = {"name": "bad", "algorithm": v["id"], "checkpoint_config": {"location": ref}}
        resp = world.client.post(JOBS, json=body, headers=world.a.h())
        assert resp.status_code == 422, ref
        locs = [e["loc"] for e in resp.json()["error"]["details"]["errors"]]
        assert locs == ["checkpoint_config.location"], ref


def test_a_second_job_with_the_same_location_resumes(world: World) -> None:
    v = register_fixture(world, "checkpoint-resume")
    loc = create_location(world, world.a.h(), "resumable")
    local = "/opt/ml/ckpt/run"
    body = {
        "name": "first",
        "algorithm": v["id"],
        "hyperparameters": {"steps": 3, "checkpoint-dir": local},
        "checkpoint_config": {"location": "resumable", "local_path": local},
    }
    first = run_to_end(world, submit(world, world.a.h(), body)["id"])
    assert first["secondary_status"] == "Completed", first.get("failure_reason")
    cfg = {"location_id": loc["id"], "location_name": "resumable", "local_path": local}
    assert describe(world, world.a.h("viewer"), first["id"])["checkpoint_config"] == cfg
    assert "no checkpoint found" in logs_text(world, world.a.h(), first["id"])
    state = world.client.get(f"{LOCATIONS}/{loc['id']}/files/state.json", headers=world.a.h())
    assert json.loads(state.content) == {"step": 3, "runs": 1}
    second = submit(
        world,
        world.a.h(),
        {
            **body,
            "name": "second",
            "checkpoint_config": {"location": loc["id"], "local_path": local},
        },
    )
    assert world.client.delete(f"{LOCATIONS}/{loc['id']}", headers=world.a.h()).status_code == 409
    done = run_to_end(world, second["id"])
    assert done["secondary_status"] == "Completed", done.get("failure_reason")
    text = logs_text(world, world.a.h(), second["id"])
    assert "restoring 1 files from checkpoint location resumable" in text
    assert "resumed from checkpoint at step 3 (run 1)" in text
    assert done["final_metrics"]["train:step"] == 6
    state = world.client.get(f"{LOCATIONS}/{loc['id']}/files/state.json", headers=world.a.h())
    assert json.loads(state.content) == {"step": 6, "runs": 2}
    got = world.client.get(f"{LOCATIONS}/{loc['id']}", headers=world.a.h()).json()
    assert got["last_job_id"] == second["id"] and got["file_count"] == 1


LINKER = """
import os
ck = os.path.join(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"), "checkpoints")
secret = os.path.join(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"), "model", "secret.txt")
open(secret, "w").write("not for the location")
os.symlink(secret, os.path.join(ck, "link.txt"))
os.symlink(os.path.dirname(secret), os.path.join(ck, "linked-dir"))
os.makedirs(os.path.join(ck, "sub"), exist_ok=True)
open(os.path.join(ck, "sub", "real.txt"), "w").write("kept")
print("wrote links", flush=True)
"""


def test_links_in_the_checkpoint_folder_are_never_followed(world: World) -> None:
    manifest = "name: linker\nversion: 1.0.0\nentry_point: train.py\nchannels: {}\n"
    v = register(world, tar_gz({"forgeml.yaml": manifest, "train.py": textwrap.dedent(LINKER)}))
    loc = create_location(world, world.a.h(), "links")
    body = {"name": "linker", "algorithm": v["id"], "checkpoint_config": {"location": "links"}}
    done = run_to_end(world, submit(world, world.a.h(), body)["id"])
    assert done["secondary_status"] == "Completed", done.get("failure_reason")
    assert [f["path"] for f in files_of(world, loc["id"])] == ["sub/real.txt"]


def test_checkpoint_files_count_against_the_storage_quota(world: World) -> None:
    v = register_fixture(world, "checkpoint-resume")
    loc = create_location(world, world.a.h(), "tight")
    put_file(world, loc, "big.bin", b"x" * 1000)
    resp = world.client.patch(
        f"/api/v1/tenants/{world.a.id}", json={"storage_quota_bytes": 1010}, headers=world.admin
    )
    assert resp.status_code == 200, resp.text
    body = {"name": "over", "algorithm": v["id"], "checkpoint_config": {"location": "tight"}}
    done = run_to_end(world, submit(world, world.a.h(), body)["id"])
    assert done["secondary_status"] == "Completed", done.get("failure_reason")
    assert "checkpoint sync failed" in logs_text(world, world.a.h(), done["id"])
    assert [f["path"] for f in files_of(world, loc["id"])] == ["big.bin"]


def test_a_file_renamed_while_it_uploads_is_not_recorded(world: World, tmp_path: Path) -> None:
    # A program writes `state.json.tmp` and renames it to `state.json`; a sync that read the tmp
    # file before the rename must not leave `state.json.tmp` in the location.
    from forgeml.services.checkpoints.sync import location_sync

    loc = create_location(world, world.a.h(), "renames")
    v = register_fixture(world, "checkpoint-resume")
    job = submit(world, world.a.h(), {"name": "r", "algorithm": v["id"]})
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "state.json.tmp").write_text('{"step": 1}')
    store = world.services.store

    class RenamingStore:  # the program's rename lands while the bytes are on their way
        def put(self, key: str, f: Any, size: int) -> Any:
            info = store.put(key, f, size=size)
            if (folder / "state.json.tmp").exists():
                os.replace(folder / "state.json.tmp", folder / "state.json")
            return info

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

    sync = location_sync(
        world.services.db, RenamingStore(), tenant_id=world.a.id, location_id=loc["id"],  # type: ignore[arg-type]
        job_id=job["id"], fence=lambda conn: None, check_quota=lambda conn, t, n: None,
    )  # fmt: skip
    sync(folder)  # uploads the tmp file, which is renamed meanwhile: dropped
    sync(folder)  # the next pass finds state.json
    files = world.client.get(f"{LOCATIONS}/{loc['id']}/files", headers=world.a.h()).json()
    assert [f["path"] for f in files["items"]] == ["state.json"]

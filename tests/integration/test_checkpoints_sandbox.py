"""Checkpoint locations under the real jail (sandbox=required): a custom local path is a writable
bind at that path, a second job resumes from it, and links planted there are never synced."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from forgeml.config import Settings
from forgeml.db.engine import Database
from tests.support.algorithms import register, tar_gz
from tests.support.checkpoints import LOCATIONS, create_location
from tests.support.jobs import logs_text, register_fixture, run_to_end, submit
from tests.support.platform_jobs import require_bwrap, sandboxed_settings
from tests.support.world import World

LOCAL = "/opt/ml/ckpt/run"
PLANTER = f"""
import os
ck = "{LOCAL}"
assert os.path.isdir(ck), "the local path is not mounted"
os.symlink("/etc/passwd", os.path.join(ck, "passwd"))
os.symlink("/opt/ml/input/config", os.path.join(ck, "config"))
open(os.path.join(ck, "mine.txt"), "w").write("kept")
print("planted", flush=True)
"""


@pytest.fixture
def settings(tmp_path: Path, database: Database, envs_dir: Path) -> Settings:
    require_bwrap()
    return sandboxed_settings(tmp_path, database.url, envs_dir)


def test_jailed_jobs_resume_at_a_custom_path_and_links_stay_behind(world: World) -> None:
    v = register_fixture(world, "checkpoint-resume")
    loc = create_location(world, world.a.h(), "jailed")
    cfg = {"location": "jailed", "local_path": LOCAL}
    hps = {"steps": 2, "checkpoint-dir": LOCAL}
    for name in ("one", "two"):
        body = {"name": name, "algorithm": v["id"], "hyperparameters": hps}
        done = run_to_end(
            world, submit(world, world.a.h(), {**body, "checkpoint_config": cfg})["id"]
        )
        assert done["secondary_status"] == "Completed", done.get("failure_reason")
    assert "resumed from checkpoint at step 2 (run 1)" in logs_text(world, world.a.h(), done["id"])
    state = world.client.get(f"{LOCATIONS}/{loc['id']}/files/state.json", headers=world.a.h())
    assert json.loads(state.content) == {"step": 4, "runs": 2}
    manifest = "name: planter\nversion: 1.0.0\nentry_point: train.py\nchannels: {}\n"
    p = register(world, tar_gz({"forgeml.yaml": manifest, "train.py": textwrap.dedent(PLANTER)}))
    body = {"name": "planter", "algorithm": p["id"], "checkpoint_config": cfg}
    done = run_to_end(world, submit(world, world.a.h(), body)["id"])
    assert done["secondary_status"] == "Completed", done.get("failure_reason")
    files = world.client.get(f"{LOCATIONS}/{loc['id']}/files", headers=world.a.h()).json()
    assert sorted(f["path"] for f in files["items"]) == ["mine.txt", "state.json"]

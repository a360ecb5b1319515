"""Hostile algorithms as real jobs through the platform (sandbox=required): each probe's result
lands in the job's model artifact and the test checks it. Also: no process outlives a stop, and
one failing host of a two-host job fails the job and stops the other host.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.domain.jobs import is_terminal
from forgeml.services.container import Services
from tests.integration.training_helpers import processes_with_marker
from tests.support.algorithms import register, tar_gz
from tests.support.jobs import (
    JOBS,
    describe,
    job_body,
    logs_text,
    register_algorithm,
    run_to_end,
    run_until,
    submit,
    upload_dataset,
)
from tests.support.platform_jobs import (
    artifact,
    file_store,
    settings_for_mode,
)
from tests.support.world import World

MANIFEST = """\
name: {name}
version: 1.0.0
entry_point: train.py
hyperparameters:
  marker: {{type: free-text, default: "0"}}
channels:
  train: {{required: true}}
resource_classes: [cpu.small]
distributed: true
environment:
  PROBES: {{description: what the probe tries (JSON)}}
"""

HOSTILE = r"""
import json, os, socket, sys
probes = json.loads(os.environ["PROBES"])
def attempt(fn):
    try:
        fn()
        return "allowed"
    except BaseException as exc:
        return type(exc).__name__
def read(path):
    def go():
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").read(16)
    return go
def write(path):
    return lambda: open(path, "w").write("x")
def connect(port):
    return lambda: socket.create_connection(("127.0.0.1", port), timeout=2).close()
out = {"read:" + k: attempt(read(p)) for k, p in probes["read"].items()}
out.update({"write:" + k: attempt(write(p)) for k, p in probes["write"].items()})
out.update({"connect:" + k: attempt(connect(p)) for k, p in probes["connect"].items()})
out["write:model"] = attempt(write("/opt/ml/model/ok.txt"))
out["write:tmp"] = attempt(write("/tmp/ok.txt"))
out["own_input"] = attempt(read(os.environ["SM_CHANNEL_TRAIN"] + "/mine.csv"))
out["env"] = dict(os.environ)
json.dump(out, open("/opt/ml/model/report.json", "w"))
print("probes done", flush=True)
"""

# algo-2 fails at once; algo-1 would sleep for ten minutes unless the platform stops it.
ONE_HOST_FAILS = """
import os, sys, time
if os.environ["SM_CURRENT_HOST"] == "algo-2":
    open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w").write("algo-2 broke")
    sys.exit(2)
print("algo-1 waiting", flush=True)
time.sleep(600)
"""

# Leaves a detached grandchild behind (double fork + setsid) and keeps running.
ESCAPER = """
import os, subprocess, sys, time
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
subprocess.Popen(["/usr/bin/sleep", args["--marker"]], start_new_session=True)
print("escaper spawned", flush=True)
time.sleep(600)
"""


@pytest.fixture
def settings(tmp_path: Path, database: Database, envs_dir: Path) -> Settings:
    return settings_for_mode("required", tmp_path, database.url, envs_dir, stop_grace_s=1.0)


@pytest.fixture
def services(settings: Settings, database: Database) -> Iterator[Services]:
    svc = Services.build(settings, database, file_store(settings))
    yield svc
    svc.job_runs.shutdown(30)  # nothing a failed test left running survives it


def _algorithm(world: World, name: str, script: str) -> str:
    files = {"forgeml.yaml": MANIFEST.format(name=name), "train.py": textwrap.dedent(script)}
    return str(register(world, tar_gz(files))["id"])


def _submit(
    world: World, algo: str, ds: str, name: str, hyperparameters: Any = None, **extra: Any
) -> str:
    body = job_body(name, algo, ds, hyperparameters=hyperparameters or {}, **extra)
    return str(submit(world, world.a.h(), body)["id"])


def _object_path(world: World, dataset_id: str) -> Path:
    """Where the file store keeps the (only) file of a dataset's latest version."""
    store = world.services.store
    keys = [i.key for i in store.list("") if dataset_id in i.key]
    assert keys, f"no object of {dataset_id}"
    path = store.local_path(keys[0])
    assert path is not None and path.is_file()
    return Path(path)


def test_hostile_job_reads_writes_and_connects_nothing_outside_its_tree(
    world: World, database: Database, listener: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORGEML_PROBE_SECRET", "hunter2-server-env")
    settings = world.services.settings
    # Tenant B's job runs meanwhile: its staged inputs are on this node's disk.
    victim_algo = str(register_algorithm(world, "victim-train")["id"])
    b_ds = upload_dataset(world, world.b.h(), "b-secret", {"secret.csv": b"victim-secret-row\n"})
    victim = submit(
        world, world.b.h(), job_body("victim", victim_algo, b_ds, hyperparameters={"epochs": 100, "sleep": 1})
    )["id"]  # fmt: skip
    run_until(world, victim, lambda j: j["secondary_status"] == "Training")
    work = settings.jobs.work_dir or settings.home / "work"
    victim_input = work / victim / "attempt-1" / "channels" / "train" / "secret.csv"
    # A platform dataset nobody granted to tenant A.
    hidden = upload_dataset(
        world, world.admin, "not-granted", {"p.csv": b"owner-only\n"}, kind="platform"
    )
    probes: dict[str, dict[str, Any]] = {
        "read": {
            "other_job_input": str(victim_input),
            "other_job_work": str(work / victim),
            "objects": str(settings.home / "objects"),
            "ungranted_platform": str(_object_path(world, hidden)),
            "home": str(settings.home),
            "server_environ": f"/proc/{os.getpid()}/environ",
        },
        "write": {
            "channel": "/opt/ml/input/data/train/evil.csv",
            "code": "/opt/ml/code/evil.py",
            "config": "/opt/ml/input/config/hyperparameters.json",
            "root": "/evil",
            "usr": "/usr/evil",
            "etc_hosts": "/etc/hosts",
            "objects": str(settings.home / "objects" / "evil"),
            "other_job": str(victim_input.parent / "evil.csv"),
        },
        "connect": {"host_listener": listener},
    }
    if database.url.startswith("sqlite"):
        db_file = database.url.removeprefix("sqlite:///")
        assert Path(db_file).is_file()
        probes["read"]["db_file"] = db_file
    else:
        probes["connect"]["postgres"] = 5432
    for key in ("other_job_input", "objects", "ungranted_platform", "home"):
        assert Path(probes["read"][key]).exists(), key  # the probes aim at real things
    algo = _algorithm(world, "hostile", HOSTILE)
    ds = upload_dataset(world, world.a.h(), "mine", {"mine.csv": b"a\n1\n"})
    job = _submit(world, algo, ds, "hostile", environment={"PROBES": json.dumps(probes)})
    done = run_until(world, job, lambda j: is_terminal(j["secondary_status"]), 120)
    assert done["status"] == "Completed", (
        done["failure_reason"],
        logs_text(world, world.a.h(), job),
    )
    seen = json.loads(artifact(world, world.a.h(), job, "model.tar.gz")["report.json"])
    assert seen["own_input"] == "allowed" and seen["write:model"] == "allowed"
    assert seen["write:tmp"] == "allowed"
    for key in probes["read"]:
        assert seen[f"read:{key}"] in {"FileNotFoundError", "PermissionError"}, key
    for key in probes["write"]:
        assert seen[f"write:{key}"] in {"OSError", "FileNotFoundError", "PermissionError"}, key
    for key in probes["connect"]:
        assert seen[f"connect:{key}"] in {"ConnectionRefusedError", "OSError", "TimeoutError"}, key
    env = seen["env"]
    assert not [k for k in env if k.startswith("FORGEML_")]
    assert "hunter2-server-env" not in json.dumps(env)
    assert not (victim_input.parent / "evil.csv").exists()
    assert not (settings.home / "objects" / "evil").exists()
    assert world.client.post(f"{JOBS}/{victim}/stop", headers=world.b.h()).status_code == 200
    assert run_to_end(world, victim)["status"] == "Stopped"


def test_stopped_job_leaves_no_process_even_a_detached_one(world: World) -> None:
    # sleep's argument: unique per test process (the SQLite and PostgreSQL runs of this test may
    # run at once on two xdist workers and must not see each other's sleepers)
    marker = f"913.{os.getpid()}{time.monotonic_ns() % 1000:03d}"
    algo = _algorithm(world, "escaper", ESCAPER)
    ds = upload_dataset(world, world.a.h(), "rows", {"r.csv": b"a\n1\n"})
    job = _submit(world, algo, ds, "escaper", hyperparameters={"marker": marker})
    run_until(world, job, lambda j: "escaper spawned" in logs_text(world, world.admin, j["id"]))
    assert processes_with_marker(marker)  # the detached grandchild really runs
    assert world.client.post(f"{JOBS}/{job}/stop", headers=world.a.h()).status_code == 200
    done = run_to_end(world, job)
    assert (done["status"], done["secondary_status"]) == ("Stopped", "Stopped")
    assert processes_with_marker(marker) == []


def test_one_failing_host_fails_the_job_and_stops_the_other(world: World) -> None:
    algo = _algorithm(world, "one-fails", ONE_HOST_FAILS)
    ds = upload_dataset(world, world.a.h(), "rows", {"r.csv": b"a\n1\n"})
    job = _submit(world, algo, ds, "two-hosts", resources={"instance_count": 2})
    done = run_to_end(world, job, timeout_s=120)
    assert (done["status"], done["failure_reason"]) == ("Failed", "algo-2 broke")
    assert done["attempt"] == 1  # an algorithm error: no retry
    logs = world.client.get(f"{JOBS}/{job}/logs?limit=5000", headers=world.a.h()).json()["items"]
    first = [x["text"] for x in logs if x["host"] == "algo-1"]
    assert "algo-1 waiting" in first
    # algo-1 was stopped because algo-2 failed, not by its max runtime.
    assert any(t.startswith("Stopped: sending SIGTERM") for t in first), first
    assert describe(world, world.a.h(), job)["instance_count"] == 2

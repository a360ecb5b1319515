"""The environment build runs owner-supplied install code (`setup.py` of a local project in the
requirements). It must find no worker secrets in its environment and, jailed, no host files and
no network (issue 10 item 5). What it found ends up in the model a tenant downloads.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import forgeml
from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.services.container import Services
from tests.support.algorithms import register, tar_gz
from tests.support.jobs import job_body, run_to_end, submit, upload_dataset
from tests.support.platform_jobs import (
    artifact,
    file_store,
    settings_for_mode,
)
from tests.support.world import World

SECRETS = {
    "FORGEML_DATABASE_URL": "postgresql://forgeml:db-hunter2@127.0.0.1/forgeml",
    "FORGEML_S3__SECRET_ACCESS_KEY": "store-key-hunter2",
    "FORGEML_SMTP__PASSWORD": "smtp-hunter2",
    "AWS_SECRET_ACCESS_KEY": "aws-hunter2",
}

MANIFEST = """\
name: greedy-build
version: 1.0.0
entry_point: train.py
requirements: requirements.txt
channels:
  train: {required: true}
resource_classes: [cpu.small]
"""

# Runs inside `pip install ./collector`: collects what it can and ships it as module `loot`.
SETUP = """
import json, os, socket
from setuptools import setup
probes = json.load(open("probes.json"))
found = {"environ": dict(os.environ), "files": {}, "connect": {}}
for label, path in probes["files"].items():
    try:
        found["files"][label] = sorted(os.listdir(path)) if os.path.isdir(path) else open(path, "rb").read(200).decode("latin1")
    except OSError as exc:
        found["files"][label] = None
for label, port in probes["connect"].items():
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        found["connect"][label] = "connected"
    except OSError as exc:
        found["connect"][label] = None
open("loot.py", "w").write("FOUND = " + repr(json.dumps(found)))
setup(name="loot", version="1.0", py_modules=["loot"])
"""

TRAIN = """
import os, loot
open(os.path.join(os.environ["SM_MODEL_DIR"], "loot.json"), "w").write(loot.FOUND)
"""


@pytest.fixture(params=["required", "off"])
def settings(request: pytest.FixtureRequest, tmp_path: Path, database: Database) -> Settings:
    # A fresh envs folder: this build must really run under the test's settings.
    return settings_for_mode(request.param, tmp_path, database.url, tmp_path / "envs")


@pytest.fixture
def services(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Services]:
    for name, value in SECRETS.items():  # what a worker's environment holds
        monkeypatch.setenv(name, value)
    svc = Services.build(settings, database, file_store(settings))
    yield svc
    svc.job_runs.shutdown(30)


def _probes(world: World, database: Database, listener: int) -> dict[str, Any]:
    home = world.services.settings.home
    (home / "worker-secret.txt").write_text("file-hunter2")
    files = {
        "home": str(home),
        "home_secret": str(home / "worker-secret.txt"),
        "objects": str(home / "objects"),
        "etc_shadow": "/etc/shadow",
        "worker_environ": f"/proc/{os.getpid()}/environ",
        "worker_venv_src": str(Path(forgeml.__file__).parent),
    }
    if database.url.startswith("sqlite"):
        files["db_file"] = database.url.removeprefix("sqlite:///")
    connect = {"host_listener": listener}
    if not database.url.startswith("sqlite"):
        connect["postgres"] = 5432
    return {"files": files, "connect": connect}


def test_build_code_finds_no_secrets_host_files_or_network(
    world: World, database: Database, listener: int
) -> None:
    probes = _probes(world, database, listener)
    bundle = {
        "forgeml.yaml": MANIFEST,
        "train.py": textwrap.dedent(TRAIN),
        "requirements.txt": "./collector\n",
        "collector/setup.py": textwrap.dedent(SETUP),
        "collector/probes.json": json.dumps(probes),
    }
    algo = str(register(world, tar_gz(bundle))["id"])
    ds = upload_dataset(world, world.a.h(), "rows", {"r.csv": b"a\n1\n"})
    job = submit(world, world.a.h(), job_body("loot", algo, ds, hyperparameters={}))["id"]
    done = run_to_end(world, job, timeout_s=600)
    assert done["secondary_status"] == "Completed", done
    loot = json.loads(artifact(world, world.a.h(), job, "model.tar.gz")["loot.json"])

    environ = loot["environ"]
    assert not {n for n in environ if n.startswith(("FORGEML_", "AWS_"))}, sorted(environ)
    jailed = world.services.settings.sandbox == "required"
    text = json.dumps(loot if jailed else environ)  # unjailed, host files are readable (docs)
    for secret in (*SECRETS.values(), "file-hunter2", database.url):
        assert secret not in text
    # The scrubbed base, pip's settings, and what pip (or uv) itself sets for a PEP 517 build.
    allowed = {"PATH", "HOME", "TMPDIR", "LANG", "PWD", "PYTHONNOUSERSITE", "PYTHONPATH"}
    allowed |= {"UV", "UV_INTERNAL__BUILD_DIR", "VIRTUAL_ENV", "PYTHONIOENCODING"}  # uv's own
    extra = {n for n in environ if n not in allowed and not n.startswith(("PIP_", "PEP517_"))}
    assert not extra, sorted(environ)
    if jailed:
        assert loot["files"] == dict.fromkeys(probes["files"])  # none of them exists in the jail
        assert loot["connect"] == dict.fromkeys(probes["connect"])  # no network at all


@pytest.mark.parametrize("name", ["LD_PRELOAD", "PYTHONPATH", "FORGEML_DATABASE_URL", "pip_index"])
def test_build_settings_pass_only_pip_variables(name: str) -> None:
    with pytest.raises(ValueError, match=r"builds\.pip_env"):
        Settings(builds={"pip_env": {name: "x"}})


def test_index_credentials_are_masked_in_the_effective_config() -> None:
    url = "https://reader:index-token-hunter2@pypi.example.com/simple"
    masked = Settings(builds={"pip_env": {"PIP_INDEX_URL": url}}).masked()
    assert "index-token-hunter2" not in str(masked)
    assert masked["builds"]["pip_env"]["PIP_INDEX_URL"].startswith("https://reader:")

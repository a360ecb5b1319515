"""Real jobs through the API in the jail: a BYOC `train` started as SageMaker starts it, a failing
script's own error as FailureReason, output/success after a script-mode success.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeml.client.packing import pack_folder
from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.services.container import Services
from tests.support.algorithms import register
from tests.support.jobs import job_body, logs_text, run_to_end, submit, upload_dataset
from tests.support.platform_jobs import artifact, file_store, settings_for_mode
from tests.support.world import World

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "algorithms"
CSV = b"label,x\n0,1\n1,2\n"


@pytest.fixture
def settings(tmp_path: Path, database: Database, envs_dir: Path) -> Settings:
    return settings_for_mode("required", tmp_path, database.url, envs_dir, stop_grace_s=1.0)


@pytest.fixture
def services(settings: Settings, database: Database) -> Iterator[Services]:
    svc = Services.build(settings, database, file_store(settings))
    yield svc
    svc.job_runs.shutdown(30)


def _fixture_algorithm(world: World, name: str, tmp: Path) -> str:
    bundle, _ = pack_folder(FIXTURES / name, out=tmp / f"{name}.tar.gz")
    return str(register(world, bundle.read_bytes())["id"])


def _run(world: World, tmp: Path, algorithm: str, csv: bytes, **hps: object) -> dict[str, object]:
    algo = _fixture_algorithm(world, algorithm, tmp)
    ds = upload_dataset(world, world.a.h(), f"{algorithm}-rows", {"rows.csv": csv})
    job = submit(world, world.a.h(), job_body(algorithm, algo, ds, hyperparameters=hps))
    return run_to_end(world, str(job["id"]))


def test_container_mode_train_gets_no_arguments_and_its_shebang_resolved(
    world: World, tmp_path: Path
) -> None:
    done = _run(world, tmp_path, "byoc-train", CSV, max_depth=5)
    assert done["status"] == "Completed", done
    seen = json.loads(artifact(world, world.a.h(), str(done["id"]), "model.tar.gz")["seen.json"])
    assert seen["argv"] == ["/opt/ml/code/train"]  # no --key value pairs
    assert seen["shebang"] == "#!/usr/bin/env python3.9"
    assert seen["hyperparameters"] == {"max_depth": "5", "eta": "0.3"}
    assert (seen["host"], seen["rows"]) == ("algo-1", 3)
    # The algorithm environment's interpreter ran it, whatever python3.9 is on this machine.
    assert "/bin/python" in seen["executable"] and "3.9" not in seen["executable"]
    assert "wrote output/success" not in logs_text(world, world.a.h(), str(done["id"]))


def test_failing_script_reason_carries_its_error_message(world: World, tmp_path: Path) -> None:
    done = _run(world, tmp_path, "fails-with-message", b"x,y\n1,2\n")
    assert done["status"] == "Failed", done
    reason = str(done["failure_reason"])
    assert reason.startswith("ExecuteUserScriptError:\nExitCode 1\nErrorMessage ")
    assert "ValueError: label column 'label' not found in rows.csv" in reason
    assert reason.endswith('/opt/ml/code/train.py --label label"')


def test_output_success_after_a_script_mode_success(world: World, tmp_path: Path) -> None:
    done = _run(world, tmp_path, "fails-with-message", CSV)
    assert done["status"] == "Completed", done
    assert done["failure_reason"] is None
    text = logs_text(world, world.a.h(), str(done["id"]))
    assert "all files have the label column" in text
    assert "wrote output/success" in text

"""The example algorithms trained for real through the platform (sandbox required): the admin
registers them and grants the platform part of the demo data, tenant A uploads its own part,
submits with train + platform + validation channels, downloads the model and loads it here.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.demo.data import write_digits_parts, write_wine_parts
from forgeml.services.container import Services
from tests.support.algorithms import EXAMPLES
from tests.support.jobs import logs_text, run_to_end, submit
from tests.support.platform_jobs import (
    artifact,
    demo_channels,
    file_store,
    register_example,
    require_bwrap,
    sandboxed_settings,
)
from tests.support.shared_tmp import run_shared_dir
from tests.support.world import World

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    root = tmp_path_factory.mktemp("demo-data")
    return {"digits": write_digits_parts(root / "digits"), "wine": write_wine_parts(root / "wine")}


@pytest.fixture
def settings(
    tmp_path: Path, database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    require_bwrap()
    envs = run_shared_dir(tmp_path_factory, "example-envs")  # one cache per run: built once
    return sandboxed_settings(tmp_path, database.url, envs, lease_s=60.0)


@pytest.fixture
def services(settings: Settings, database: Database) -> Iterator[Services]:
    svc = Services.build(settings, database, file_store(settings))
    yield svc
    svc.job_runs.shutdown(30)  # nothing a failed test left running survives it


def _digits_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "digits_train", EXAMPLES / "digits-classifier" / "train.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(path: Path) -> tuple[list[list[float]], list[int]]:
    with path.open() as f:
        reader = csv.reader(f)
        next(reader)
        rows = [[float(v) for v in r] for r in reader if r]
    return [r[:-1] for r in rows], [int(r[-1]) for r in rows]


def _run(world: World, tmp: Path, example: str, data: dict[str, Path], **body: Any) -> Any:
    version = register_example(world, example, tmp)
    channels = demo_channels(world, data, example)
    job = submit(
        world, world.a.h(), {"name": body.pop("name", example), "algorithm": version,
                             "input_data": channels, **body},
    )  # fmt: skip
    done = run_to_end(world, job["id"], timeout_s=300)
    assert done["status"] == "Completed", (
        done["failure_reason"],
        logs_text(world, world.a.h(), job["id"]),
    )
    assert set(done["inputs"]) == {"train", "platform", "validation"}
    return done


def test_digits_trains_on_own_and_granted_data_and_the_model_loads(
    world: World, tmp_path: Path, parts: dict[str, dict[str, Path]]
) -> None:
    torch = pytest.importorskip("torch")
    data = parts["digits"]
    done = _run(world, tmp_path, "digits-classifier", data, hyperparameters={"epochs": 3})
    text = logs_text(world, world.a.h(), done["id"])
    assert "sandbox=bwrap" in text and "platform channel:" in text
    assert done["final_metrics"]["validation:accuracy"] > 0.5
    files = artifact(world, world.a.h(), done["id"], "model.tar.gz")
    saved = torch.load(io.BytesIO(files["model.pt"]), weights_only=True)
    meta = saved["metadata"]
    own, plat = _rows(data["tenant"]), _rows(data["platform"])
    assert meta["train_rows"] == len(own[1]) + len(plat[1])  # both channels reached the program
    model = _digits_module().DigitsCNN(meta["num_classes"])
    model.load_state_dict(saved["state_dict"])  # same keys and shapes as the CNN
    model.eval()
    x, y = _rows(data["validation"])
    images = torch.tensor(x).view(-1, 1, 8, 8) / 16.0
    with torch.no_grad():
        predicted = model(images).argmax(dim=1).tolist()
    accuracy = sum(p == t for p, t in zip(predicted, y, strict=True)) / len(y)
    assert accuracy > 0.5


def test_tabular_trains_on_own_and_granted_data_and_the_model_loads(
    world: World, tmp_path: Path, parts: dict[str, dict[str, Path]]
) -> None:
    joblib = pytest.importorskip("joblib")
    data = parts["wine"]
    done = _run(world, tmp_path, "tabular-classifier", data, hyperparameters={"max-iter": 30})
    assert done["final_metrics"]["validation:accuracy"] > 0.7
    files = artifact(world, world.a.h(), done["id"], "model.tar.gz")
    model = joblib.load(io.BytesIO(files["model.joblib"]))
    meta = json.loads(files["metadata.json"])
    own, plat = _rows(data["tenant"]), _rows(data["platform"])
    assert meta["train_rows"] == len(own[1]) + len(plat[1])
    x, y = _rows(data["validation"])
    predicted = [int(float(p)) for p in model.predict(x)]
    assert sum(p == t for p, t in zip(predicted, y, strict=True)) / len(y) > 0.7
    report = artifact(world, world.a.h(), done["id"], "output.tar.gz")
    assert json.loads(report["metrics.json"])["validation_accuracy"] > 0.7


def test_digits_on_two_instances_over_the_job_network(
    world: World, tmp_path: Path, parts: dict[str, dict[str, Path]]
) -> None:
    torch = pytest.importorskip("torch")
    done = _run(
        world, tmp_path, "digits-classifier", parts["digits"], name="digits-2",
        hyperparameters={"epochs": 2}, resources={"instance_count": 2},
    )  # fmt: skip
    text = logs_text(world, world.a.h(), done["id"])
    assert "joining process group: rank=0 world_size=2 master=" in text
    assert "joining process group: rank=1 world_size=2 master=" in text
    saved = torch.load(
        io.BytesIO(artifact(world, world.a.h(), done["id"], "model.tar.gz")["model.pt"]),
        weights_only=True,
    )
    assert saved["metadata"]["hosts"] == 2
    assert done["billable_seconds"] >= 2 * done["training_seconds"] - 2

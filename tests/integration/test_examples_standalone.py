"""The example algorithms run as SageMaker would run them, without the platform.

Each test builds an ``/opt/ml``-like tree in a temp folder, the ``SM_*`` environment DESIGN.md
lists, and ``--key value`` arguments from the hyperparameters, then starts the example's entry
point with the current interpreter (torch and scikit-learn come from the dev venv). The example
data comes from ``forgeml.demo.data``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from forgeml.demo.data import write_digits_parts, write_wine_parts
from tests.support.services import require_module

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "algorithms"
DIGITS = EXAMPLES / "digits-classifier"
TABULAR = EXAMPLES / "tabular-classifier"
RUN_TIMEOUT_S = 120


# ---------------------------------------------------------------------------------------------
# A SageMaker-style host, built by hand


@dataclass
class Host:
    base: Path  # plays /opt/ml
    env: dict[str, str]
    args: list[str]

    @property
    def model_dir(self) -> Path:
        return self.base / "model"

    @property
    def failure(self) -> Path:
        return self.base / "output" / "failure"


def make_host(
    base: Path,
    algorithm: Path,
    channels: dict[str, Path],
    hyperparameters: dict[str, Any],
    *,
    hosts: tuple[str, ...] = ("algo-1",),
    current_host: str = "algo-1",
    num_cpus: int = 2,
    checkpoints: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Host:
    """Build the /opt/ml tree under ``base`` and the environment a SageMaker host would have."""
    hps = {k: str(v) for k, v in hyperparameters.items()}
    config = base / "input" / "config"
    config.mkdir(parents=True)
    for sub in ("model", "output/data", "output/intermediate", "code"):
        (base / sub).mkdir(parents=True)
    if checkpoints is None:
        (base / "checkpoints").mkdir()
    else:
        (base / "checkpoints").symlink_to(checkpoints, target_is_directory=True)
    data_dirs: dict[str, str] = {}
    for name, source in channels.items():
        target = base / "input" / "data" / name
        target.mkdir(parents=True)
        for csv_file in sorted(source.glob("*.csv")):
            (target / csv_file.name).write_bytes(csv_file.read_bytes())
        data_dirs[name] = str(target)
    resource = {
        "current_host": current_host,
        "hosts": list(hosts),
        "current_instance_type": "cpu.small",
        "current_group_name": "homogeneousCluster",
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": "cpu.small",
                "hosts": list(hosts),
            }
        ],
        "network_interface_name": "lo",
    }
    input_data = {
        name: {"TrainingInputMode": "File", "ContentType": "text/csv"} for name in channels
    }
    (config / "hyperparameters.json").write_text(json.dumps(hps))
    (config / "resourceconfig.json").write_text(json.dumps(resource))
    (config / "inputdataconfig.json").write_text(json.dumps(input_data))

    args: list[str] = []
    for key in sorted(hps):
        if not key.startswith("sagemaker_"):
            args += [f"--{key}", hps[key]]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "MASTER_"))}
    env.update(
        {
            "SAGEMAKER_BASE_DIR": str(base),
            "SM_MODEL_DIR": str(base / "model"),
            "SM_CHANNELS": json.dumps(sorted(channels)),
            "SM_HPS": json.dumps(hps),
            "SM_USER_ARGS": json.dumps(args),
            "SM_HOSTS": json.dumps(list(hosts)),
            "SM_CURRENT_HOST": current_host,
            "SM_NUM_CPUS": str(num_cpus),
            "SM_NUM_GPUS": "0",
            "SM_INPUT_DIR": str(base / "input"),
            "SM_INPUT_CONFIG_DIR": str(config),
            "SM_OUTPUT_DIR": str(base / "output"),
            "SM_OUTPUT_DATA_DIR": str(base / "output" / "data"),
            "SM_OUTPUT_INTERMEDIATE_DIR": str(base / "output" / "intermediate"),
            "SM_RESOURCE_CONFIG": json.dumps(resource),
            "SM_INPUT_DATA_CONFIG": json.dumps(input_data),
            "SM_TRAINING_ENV": json.dumps({"hosts": list(hosts), "current_host": current_host}),
            "SM_USER_ENTRY_POINT": "train.py",
            "SM_MODULE_NAME": "train",
            "SM_MODULE_DIR": str(algorithm),
            "SM_CURRENT_INSTANCE_TYPE": "cpu.small",
            "SM_LOG_LEVEL": "20",
            "TRAINING_JOB_NAME": "standalone-test",
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": str(num_cpus),
        }
    )
    for name, path in data_dirs.items():
        env[f"SM_CHANNEL_{name.upper()}"] = path
    for key, value in hps.items():
        env[f"SM_HP_{key.upper()}"] = value
    env.update(extra_env or {})
    return Host(base=base, env=env, args=args)


def start(algorithm: Path, host: Host) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(algorithm / "train.py"), *host.args],
        env=host.env,
        cwd=host.base / "code",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run(algorithm: Path, host: Host) -> tuple[int, str]:
    proc = start(algorithm, host)
    out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    return proc.returncode, out


def final_metrics(algorithm: Path, log: str) -> dict[str, float]:
    """What the platform does: every manifest regex on every line; the last value wins."""
    manifest = yaml.safe_load((algorithm / "forgeml.yaml").read_text())
    found: dict[str, float] = {}
    for line in log.splitlines():
        for metric in manifest["metrics"]:
            match = re.search(metric["regex"], line)
            if match:
                found[metric["name"]] = float(match.group(1))
    return found


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    parts = write_digits_parts(tmp_path_factory.mktemp("digits-data"))
    return {name: path.parent for name, path in parts.items()}


@pytest.fixture(scope="module")
def wine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    parts = write_wine_parts(tmp_path_factory.mktemp("wine-data"))
    return {name: path.parent for name, path in parts.items()}


# ---------------------------------------------------------------------------------------------
# Manifests and data


@pytest.mark.parametrize("algorithm", [DIGITS, TABULAR], ids=lambda p: p.name)
def test_manifest_is_well_formed(algorithm: Path) -> None:
    manifest = yaml.safe_load((algorithm / "forgeml.yaml").read_text())
    assert manifest["name"] == algorithm.name
    assert re.fullmatch(r"[a-z0-9-]+", manifest["name"])
    assert manifest["version"] == "1.0.0"
    assert (algorithm / manifest["entry_point"]).is_file()
    assert (algorithm / manifest["requirements"]).is_file()
    assert manifest["channels"]["train"]["required"] is True
    for name in ("validation", "platform"):
        assert manifest["channels"][name]["required"] is False
    for metric in manifest["metrics"]:
        assert re.compile(metric["regex"]).groups == 1
    assert manifest["network"] is False


def test_manifests_parse_with_the_platform_parser() -> None:
    from forgeml.domain.algorithms import parse_manifest

    for algorithm in (DIGITS, TABULAR):
        parsed = parse_manifest((algorithm / "forgeml.yaml").read_text())
        assert parsed.name == algorithm.name
        assert {"train", "platform", "validation"} <= set(parsed.channels)
        assert parsed.channels["train"].content_types == ("text/csv",)
    assert parse_manifest((DIGITS / "forgeml.yaml").read_bytes()).distributed is True


def test_digits_requirements_pin_torch() -> None:
    lines = (DIGITS / "requirements.txt").read_text().split()
    assert "torch==2.13.0" in lines
    assert not [line for line in lines if line.startswith("torch") and line != "torch==2.13.0"]


def test_demo_data_is_deterministic_and_split(tmp_path: Path) -> None:
    first = write_wine_parts(tmp_path / "a")
    second = write_wine_parts(tmp_path / "b")
    assert set(first) == {"platform", "tenant", "validation"}
    assert all(first[k].read_bytes() == second[k].read_bytes() for k in first)
    counts = {k: len(p.read_text().splitlines()) - 1 for k, p in first.items()}
    assert sum(counts.values()) == 178
    assert counts["platform"] > counts["tenant"] > counts["validation"] > 0
    digits = write_digits_parts(tmp_path / "d")
    header = digits["tenant"].read_text().splitlines()[0].split(",")
    assert header == [f"pixel_{i}" for i in range(64)] + ["label"]
    assert sum(len(p.read_text().splitlines()) - 1 for p in digits.values()) == 1797


# ---------------------------------------------------------------------------------------------
# digits-classifier (PyTorch)


@pytest.mark.slow
def test_digits_trains_loads_and_resumes(tmp_path: Path, digits: dict[str, Path]) -> None:
    torch = require_module("torch")
    channels = {
        "train": digits["tenant"],
        "platform": digits["platform"],
        "validation": digits["validation"],
    }
    hps = {"epochs": 3, "lr": 0.003, "batch-size": 64, "optimizer": "adam", "seed": 1}
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()

    first = make_host(tmp_path / "run1", DIGITS, channels, hps, checkpoints=checkpoints)
    rc, log = run(DIGITS, first)
    assert rc == 0, log
    assert "resumed" not in log
    assert "samples_per_sec=" in log

    metrics = final_metrics(DIGITS, log)
    assert set(metrics) == {
        "train:loss",
        "train:accuracy",
        "validation:loss",
        "validation:accuracy",
        "train:throughput",
    }
    assert metrics["validation:accuracy"] > 0.85
    assert metrics["train:loss"] < 1.0

    saved = torch.load(first.model_dir / "model.pt", weights_only=True)
    meta = saved["metadata"]
    assert meta["num_classes"] == 10
    assert json.loads((first.model_dir / "metadata.json").read_text()) == meta
    module = load_module(DIGITS / "train.py", "digits_train")
    model = module.DigitsCNN(meta["num_classes"])
    model.load_state_dict(saved["state_dict"])
    model.eval()
    x, y = module.read_csv_folder(str(digits["validation"]))
    with torch.no_grad():
        accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
    assert accuracy > 0.85
    # the TorchScript export loads without the model class and takes raw pixel rows
    scripted = torch.jit.load(str(first.model_dir / "model-torchscript.pt"))
    with torch.no_grad():
        raw = (x * module.PIXEL_MAX).reshape(-1, 64)
        assert torch.equal(scripted(raw).argmax(dim=1), model(x).argmax(dim=1))
    assert sorted(p.name for p in checkpoints.iterdir())[-1] == "checkpoint-epoch-00003.pt"

    # a restarted job (same checkpoints, one more epoch) continues where the first stopped
    second = make_host(
        tmp_path / "run2", DIGITS, channels, {**hps, "epochs": 4}, checkpoints=checkpoints
    )
    rc, log = run(DIGITS, second)
    assert rc == 0, log
    assert "resumed from epoch 3" in log
    assert re.findall(r"^epoch=(\d+) loss=", log, re.MULTILINE) == ["4"]
    assert (second.model_dir / "model.pt").is_file()
    assert final_metrics(DIGITS, log)["validation:accuracy"] > 0.85


@pytest.mark.slow
def test_digits_two_hosts_with_gloo(tmp_path: Path, digits: dict[str, Path]) -> None:
    require_module("torch")
    channels = {
        "train": digits["tenant"],
        "platform": digits["platform"],
        "validation": digits["validation"],
    }
    hps = {"epochs": 2, "lr": 0.003, "batch-size": 32, "optimizer": "adam", "seed": 0}
    hosts = ("algo-1", "algo-2")
    dist_env = {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "GLOO_SOCKET_IFNAME": "lo",
    }
    nodes = {
        name: make_host(
            tmp_path / name,
            DIGITS,
            channels,
            hps,
            hosts=hosts,
            current_host=name,
            num_cpus=1,
            extra_env=dist_env,
        )
        for name in hosts
    }
    procs = {name: start(DIGITS, node) for name, node in nodes.items()}
    logs: dict[str, str] = {}
    try:
        for name, proc in procs.items():
            logs[name] = proc.communicate(timeout=RUN_TIMEOUT_S)[0]
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for name, proc in procs.items():
        assert proc.returncode == 0, f"{name}:\n{logs[name]}"
    assert "rank=0 world_size=2" in logs["algo-1"]
    assert "rank=1 world_size=2" in logs["algo-2"]
    assert (nodes["algo-1"].model_dir / "model.pt").is_file()
    assert list(nodes["algo-2"].model_dir.iterdir()) == []
    assert final_metrics(DIGITS, logs["algo-1"])["validation:accuracy"] > 0.7
    # only rank 0 checkpoints
    assert list((nodes["algo-2"].base / "checkpoints").iterdir()) == []


@pytest.mark.slow
def test_digits_without_csv_fails_the_sagemaker_way(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    host = make_host(tmp_path / "ml", DIGITS, {"train": empty}, {"epochs": 1})
    rc, log = run(DIGITS, host)
    assert rc == 1, log
    reason = host.failure.read_text()
    assert reason.startswith("FileNotFoundError: no *.csv files")
    assert list(host.model_dir.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# tabular-classifier (scikit-learn)


def test_tabular_trains_and_loads(tmp_path: Path, wine: dict[str, Path]) -> None:
    require_module("sklearn")
    import joblib  # type: ignore[import-untyped]

    channels = {
        "train": wine["tenant"],
        "platform": wine["platform"],
        "validation": wine["validation"],
    }
    hps = {"learning-rate": 0.1, "max-iter": 50, "max-depth": 3, "target": "label", "seed": 0}
    host = make_host(tmp_path / "ml", TABULAR, channels, hps)
    rc, log = run(TABULAR, host)
    assert rc == 0, log
    assert "platform channel:" in log

    metrics = final_metrics(TABULAR, log)
    assert set(metrics) == {"train:accuracy", "validation:accuracy", "validation:f1"}
    assert metrics["validation:accuracy"] > 0.8
    assert metrics["validation:f1"] > 0.8
    written = json.loads((host.base / "output" / "data" / "metrics.json").read_text())
    assert written["validation_accuracy"] == pytest.approx(metrics["validation:accuracy"], abs=1e-4)

    model = joblib.load(host.model_dir / "model.joblib")
    module = load_module(TABULAR / "train.py", "tabular_train")
    features, x, y = module.read_csv_folder(str(wine["validation"]), "label")
    meta = json.loads((host.model_dir / "metadata.json").read_text())
    assert meta["feature_columns"] == features
    assert (model.predict(x) == y).mean() > 0.8


def test_tabular_without_csv_fails_the_sagemaker_way(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    host = make_host(tmp_path / "ml", TABULAR, {"train": empty}, {"max-iter": 5})
    rc, log = run(TABULAR, host)
    assert rc == 1, log
    assert host.failure.read_text().startswith("FileNotFoundError: no *.csv files")
    assert not (host.model_dir / "model.joblib").exists()

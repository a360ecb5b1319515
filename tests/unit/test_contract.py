"""Building the SageMaker contract for one host: tree, config files, env, argv, validation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from forgeml.domain.errors import InvalidInput
from forgeml.domain.tenant_inputs import reserved_env_problem
from forgeml.training.contract import build_tree, validate_spec
from forgeml.training.metrics import MetricScraper
from forgeml.training.program_env import build_env, decode_value, program_argv, user_args
from forgeml.training.spec import ChannelSpec, EntryPoint, HostSpec, MetricDefinition


@pytest.fixture
def spec(tmp_path: Path) -> HostSpec:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('hi')\n")
    train = tmp_path / "train"
    train.mkdir()
    return HostSpec(
        job_name="job-1",
        host="algo-2",
        hosts=("algo-1", "algo-2"),
        instance_type="cpu.large",
        entry_point=EntryPoint("script", "train.py"),
        code_dir=code,
        python=Path("/venv/bin/python"),
        work_root=tmp_path / "root",
        hyperparameters={"lr": "0.01", "epochs": "10", "optimizer": "adam", "sagemaker_x": "1"},
        channels={"train": ChannelSpec(train, content_type="text/csv")},
        cpu_count=2,
        gpu_indices=(1, 3),
        master_port=29500,
        host_addresses={"algo-1": "10.0.0.1", "algo-2": "10.0.0.2"},
        network_interface="eth0",
    )


def env_of(spec: HostSpec) -> dict[str, str]:
    return build_env(spec, "/opt/ml", home="/tmp", python_bin="/venv/bin")


def test_args_are_sorted_pairs_without_framework_keys(spec: HostSpec) -> None:
    assert user_args(spec) == ["--epochs", "10", "--lr", "0.01", "--optimizer", "adam"]
    argv = program_argv(spec, "/opt/ml")
    assert argv[:5] == ["/venv/bin/python", "-E", "-s", "-u", "/opt/ml/code/train.py"]
    assert argv[5:] == user_args(spec)


def test_entry_point_kinds(spec: HostSpec) -> None:
    module = replace(spec, entry_point=EntryPoint("module", "pkg.train"))
    assert program_argv(module, "/x")[4:6] == ["-m", "pkg.train"]
    exe = replace(spec, entry_point=EntryPoint("executable", "train.py"))
    assert program_argv(exe, "/x")[0] == "/x/code/train.py"


def test_tree_and_config_files(spec: HostSpec) -> None:
    layout = build_tree(spec)
    for sub in ("model", "output/data", "output/intermediate", "checkpoints", "input/data"):
        assert (layout.root / sub).is_dir()
    config = layout.config_dir
    assert json.loads((config / "hyperparameters.json").read_text())["epochs"] == "10"
    channel = json.loads((config / "inputdataconfig.json").read_text())["train"]
    assert channel == {
        "ContentType": "text/csv",
        "TrainingInputMode": "File",
        "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None",
    }
    resource = json.loads((config / "resourceconfig.json").read_text())
    assert resource["current_host"] == "algo-2"
    assert resource["hosts"] == ["algo-1", "algo-2"]
    assert resource["current_group_name"] == "homogeneousCluster"
    assert resource["instance_groups"][0]["hosts"] == ["algo-1", "algo-2"]
    assert resource["network_interface_name"] == "eth0"
    assert (layout.data_dir / "train").resolve() == spec.channels["train"].source.resolve()
    assert not layout.artifacts_dir.is_relative_to(layout.root)


def test_environment(spec: HostSpec) -> None:
    env = env_of(spec)
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert json.loads(env["SM_CHANNELS"]) == ["train"]
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert json.loads(env["SM_HPS"]) == {"epochs": 10, "lr": 0.01, "optimizer": "adam"}
    assert env["SM_HP_EPOCHS"] == "10"
    assert env["SM_HP_OPTIMIZER"] == "adam"
    assert "SM_HP_SAGEMAKER_X" not in env
    assert json.loads(env["SM_FRAMEWORK_PARAMS"]) == {"sagemaker_x": 1}
    assert json.loads(env["SM_USER_ARGS"]) == user_args(spec)
    assert json.loads(env["SM_HOSTS"]) == ["algo-1", "algo-2"]
    assert env["SM_CURRENT_HOST"] == "algo-2"
    assert (env["SM_NUM_CPUS"], env["SM_NUM_GPUS"]) == ("2", "2")
    assert env["SM_OUTPUT_INTERMEDIATE_DIR"] == "/opt/ml/output/intermediate"
    assert env["SM_USER_ENTRY_POINT"] == "train.py"
    assert env["SM_MODULE_NAME"] == "train"
    assert env["SM_MODULE_DIR"] == "/opt/ml/code"
    assert env["SM_CURRENT_INSTANCE_TYPE"] == "cpu.large"
    assert env["SM_LOG_LEVEL"] == "20"
    assert env["SM_NETWORK_INTERFACE_NAME"] == "eth0"
    assert (env["TRAINING_JOB_NAME"], env["SAGEMAKER_BASE_DIR"]) == ("job-1", "/opt/ml")
    training = json.loads(env["SM_TRAINING_ENV"])
    assert training["hyperparameters"]["epochs"] == 10
    assert training["resource_config"]["current_host"] == "algo-2"
    assert training["channel_input_dirs"] == {"train": "/opt/ml/input/data/train"}


def test_distributed_and_device_variables(spec: HostSpec) -> None:
    env = env_of(spec)
    assert (env["MASTER_ADDR"], env["MASTER_PORT"]) == ("10.0.0.1", "29500")
    assert (env["WORLD_SIZE"], env["RANK"], env["NODE_RANK"], env["LOCAL_RANK"]) == (
        "2",
        "1",
        "1",
        "0",
    )
    assert env["CUDA_VISIBLE_DEVICES"] == "1,3"
    assert env_of(replace(spec, gpu_indices=()))["CUDA_VISIBLE_DEVICES"] == ""
    assert env["PYTHONUNBUFFERED"] == "1"


def test_decode_like_sagemaker_training() -> None:
    assert decode_value("10") == 10
    assert decode_value("1e-3") == 0.001
    assert decode_value("true") is True
    assert decode_value("adam") == "adam"
    assert decode_value('{"a": 1}') == {"a": 1}


@pytest.mark.parametrize(
    "name",
    ["PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "LD_PRELOAD", "LD_LIBRARY_PATH", "PATH",
     "SM_MODEL_DIR", "SAGEMAKER_BASE_DIR", "FORGEML_HOME", "BASH_ENV", "ENV", "pythonpath",
     "BASH_FUNC_x%%", "A=B", "1X", ""],
)  # fmt: skip
def test_reserved_or_invalid_env_names_denied(name: str) -> None:
    assert reserved_env_problem(name) is not None


def test_tenant_env_cannot_override_contract(spec: HostSpec) -> None:
    assert reserved_env_problem("MY_FLAG") is None
    with pytest.raises(InvalidInput) as info:
        validate_spec(replace(spec, user_env={"PYTHONPATH": "/evil", "LD_PRELOAD": "/x.so"}))
    locs = {e["loc"] for e in info.value.details["errors"]}
    assert locs == {"environment.PYTHONPATH", "environment.LD_PRELOAD"}


@pytest.mark.parametrize("channel", ["..", ".", "a/b", "a b", "x" * 65, "", "a.b", "-a"])
def test_bad_channel_names(spec: HostSpec, channel: str) -> None:
    src = spec.channels["train"]
    with pytest.raises(InvalidInput):
        validate_spec(replace(spec, channels={channel: src}))


@pytest.mark.parametrize("entry", ["../evil.py", "/etc/passwd", "missing.py", ""])
def test_entry_point_must_be_inside_code_dir(spec: HostSpec, entry: str) -> None:
    with pytest.raises(InvalidInput):
        validate_spec(replace(spec, entry_point=EntryPoint("script", entry)))


def test_module_entry_point_must_be_a_module_name(spec: HostSpec) -> None:
    validate_spec(replace(spec, entry_point=EntryPoint("module", "pkg.train")))
    with pytest.raises(InvalidInput):
        validate_spec(replace(spec, entry_point=EntryPoint("module", "os;import x")))


def test_hyperparameter_keys_and_values(spec: HostSpec) -> None:
    validate_spec(spec)
    for hps in ({"-x": "1"}, {"a=b": "1"}, {"a": "x\0y"}):
        with pytest.raises(InvalidInput):
            validate_spec(replace(spec, hyperparameters=hps))


def test_host_must_be_listed(spec: HostSpec) -> None:
    with pytest.raises(InvalidInput):
        validate_spec(replace(spec, host="algo-3"))


def test_metric_scraper() -> None:
    from datetime import UTC, datetime

    scraper = MetricScraper([MetricDefinition("loss", r"loss=([0-9.eE+-]+)")])
    now = datetime.now(UTC)
    for line in ("epoch 1 loss=0.5", "nothing", "loss=nan", "loss=2.5e-1"):
        scraper.feed(line, now)
    assert scraper.final() == {"loss": 0.25}
    assert [p.value for p in scraper.series()["loss"]] == [0.5, 0.25]
    with pytest.raises(InvalidInput):
        MetricScraper([MetricDefinition("x", "no group")])

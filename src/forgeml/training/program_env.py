"""What the program of one host is given: its environment and its argv, as sagemaker-training gives.

tests/conformance compares both with the toolkit itself; docs/sagemaker-contract.md lists the rest.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from forgeml.training.contract import (
    GROUP_NAME,
    JAIL_TMP,
    SANDBOX_ROOT,
    input_data_config,
    resource_config,
)
from forgeml.training.spec import HostSpec

# Framework keys without the sagemaker_ prefix, and those the toolkit consumes itself (params.py).
_PREFIX = "sagemaker_"
_CONSUMED = frozenset(
    {
        "sagemaker_program",
        "sagemaker_submit_directory",
        "sagemaker_enable_cloudwatch_metrics",
        "sagemaker_region",
        "sagemaker_container_log_level",
        "sagemaker_job_name",
        "default_user_module_name",
        "_tuning_objective_metric",
        "sagemaker_s3_output",
    }
)
# Any of these turns the (only) instance group into a distribution group (toolkit rule).
_DISTRIBUTION_FLAGS = (
    "sagemaker_mpi_enabled",
    "sagemaker_parameter_server_enabled",
    "sagemaker_distributed_dataparallel_enabled",
    "sagemaker_pytorch_ddp_enabled",
    "sagemaker_pytorch_xla_multi_worker_enabled",
    "sagemaker_multi_worker_mirrored_strategy_enabled",
    "sagemaker_torch_distributed_enabled",
)
LOG_LEVEL_INFO = 20


def decode_value(value: str) -> Any:
    """Like sagemaker-training: JSON-decodable strings become numbers/bools, others stay text."""
    try:
        return json.loads(value)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested brackets stay text
        return value


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _is_framework(key: str) -> bool:
    return key.startswith(_PREFIX) or key in _CONSUMED


def user_hyperparameters(spec: HostSpec) -> dict[str, str]:
    return {k: v for k, v in spec.hyperparameters.items() if not _is_framework(k)}


def _framework_hyperparameters(spec: HostSpec) -> dict[str, Any]:
    return {k: decode_value(v) for k, v in spec.hyperparameters.items() if _is_framework(k)}


def arg_value(value: Any) -> str:
    """The text of one decoded value on the command line: `str()`, dicts as `k=v,k=v`."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)


def user_args(spec: HostSpec) -> list[str]:
    """`--key value` pairs sorted by key (`-k` for one-letter keys); framework keys are withheld."""
    args: list[str] = []
    for key, value in sorted(user_hyperparameters(spec).items()):
        args += [f"--{key}" if len(key) > 1 else f"-{key}", arg_value(decode_value(value))]
    return args


def _distribution_groups(framework: dict[str, Any]) -> list[Any]:
    chosen = framework.get("sagemaker_distribution_instance_groups")
    if isinstance(chosen, list):
        return chosen
    return [GROUP_NAME] if any(framework.get(flag) for flag in _DISTRIBUTION_FLAGS) else []


def module_name(spec: HostSpec) -> str:
    """The toolkit's module name: the entry point without a trailing `.py`."""
    value = spec.entry_point.value
    return value[:-3] if value.endswith(".py") else value


def training_env(spec: HostSpec, root: str) -> dict[str, Any]:
    """The SM_TRAINING_ENV document, with paths as the program sees them under `root`."""
    framework = _framework_hyperparameters(spec)
    extra = {k: v for k, v in framework.items() if k not in _CONSUMED}
    groups = _distribution_groups(framework)
    distribution_hosts = list(spec.hosts) if GROUP_NAME in groups else []
    master = (distribution_hosts or list(spec.hosts))[0]
    resources = resource_config(spec)
    return {
        "additional_framework_parameters": extra,
        "channel_input_dirs": {n: f"{root}/input/data/{n}" for n in sorted(spec.channels)},
        "current_host": spec.host,
        "current_instance_group": GROUP_NAME,
        "current_instance_group_hosts": list(spec.hosts),
        "current_instance_type": spec.instance_type,
        "distribution_hosts": distribution_hosts,
        "distribution_instance_groups": groups,
        "framework_module": None,
        "hosts": list(spec.hosts),
        # Sorted like hyperparameters.json, so SM_HP_* collisions (lr/LR) resolve as the toolkit's.
        "hyperparameters": {
            k: decode_value(v) for k, v in sorted(user_hyperparameters(spec).items())
        },
        "input_config_dir": f"{root}/input/config",
        "input_data_config": input_data_config(spec),
        "input_dir": f"{root}/input",
        "instance_groups": [GROUP_NAME],
        "instance_groups_dict": {g["instance_group_name"]: g for g in resources["instance_groups"]},
        "is_hetero": False,
        "is_master": spec.host == master,
        "is_modelparallel_enabled": None,
        "is_smddpmprun_installed": False,
        "is_smddprun_installed": False,
        "job_name": spec.job_name,
        "log_level": framework.get("sagemaker_container_log_level", LOG_LEVEL_INFO),
        "master_hostname": master,
        "model_dir": f"{root}/model",
        "module_dir": f"{root}/code",
        "module_name": module_name(spec),
        "network_interface_name": spec.network_interface,
        "num_cpus": spec.cpu_count,
        "num_gpus": len(spec.gpu_indices),
        "num_neurons": 0,
        "output_data_dir": f"{root}/output/data",
        "output_dir": f"{root}/output",
        "output_intermediate_dir": f"{root}/output/intermediate",
        "resource_config": resources,
        "topology": [],
        "user_entry_point": spec.entry_point.value,
    }


def _sm_value(value: Any) -> str:
    """The toolkit's `mapping.to_env_vars` value: text as is, None as "", the rest as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else _json(value)


def sm_variables(spec: HostSpec, root: str) -> dict[str, str]:
    """Every SM_* variable of `Environment.to_env_vars()`."""
    doc = training_env(spec, root)
    names = (
        "hosts", "network_interface_name", "user_entry_point", "resource_config",
        "input_data_config", "output_data_dir", "current_host", "current_instance_type",
        "current_instance_group", "current_instance_group_hosts", "instance_groups",
        "instance_groups_dict", "distribution_instance_groups", "is_hetero", "module_name",
        "log_level", "framework_module", "input_dir", "input_config_dir", "output_dir",
        "num_cpus", "num_gpus", "num_neurons", "model_dir", "module_dir",
        "output_intermediate_dir",
    )  # fmt: skip
    found: dict[str, Any] = {name: doc[name] for name in names}
    found["hps"] = doc["hyperparameters"]
    found["framework_params"] = doc["additional_framework_parameters"]
    found["channels"] = sorted(spec.channels)
    found["training_env"] = doc
    found["user_args"] = user_args(spec)
    for name, path in doc["channel_input_dirs"].items():
        found[f"channel_{name}"] = path
    for key, value in doc["hyperparameters"].items():
        found[f"hp_{key}"] = value
    return {f"SM_{key.upper()}": _sm_value(value) for key, value in found.items()}


def toolkit_variables(spec: HostSpec) -> dict[str, str]:
    """The variables `Environment()` sets in its own process, which the program inherits."""
    framework = _framework_hyperparameters(spec)
    return {
        "CURRENT_HOST": spec.host,
        # The SDK always passes sagemaker_job_name; without it, the job's own name.
        "SAGEMAKER_JOB_NAME": str(framework.get("sagemaker_job_name", spec.job_name)),
        "SAGEMAKER_REGION": str(framework.get("sagemaker_region", spec.region)),
    }


def build_env(spec: HostSpec, root: str, *, home: str, python_bin: str) -> dict[str, str]:
    """The complete environment of the program: tenant variables first, then the contract."""
    env = dict(spec.user_env)
    env.update(sm_variables(spec, root))
    env.update(toolkit_variables(spec))
    env.update(platform_variables(spec, root, home=home, python_bin=python_bin))
    return env


def platform_variables(spec: HostSpec, root: str, *, home: str, python_bin: str) -> dict[str, str]:
    """Set by SageMaker or ForgeML itself, not by the toolkit (each listed in the docs)."""
    master = spec.hosts[0]
    return {
        "TRAINING_JOB_NAME": spec.job_name,
        "SAGEMAKER_BASE_DIR": root,
        "MASTER_ADDR": spec.address_of(master),
        "MASTER_PORT": str(spec.master_port),
        "WORLD_SIZE": str(len(spec.hosts)),
        "RANK": str(spec.rank),
        "NODE_RANK": str(spec.rank),
        "GROUP_RANK": str(spec.rank),
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": "1",
        "GLOO_SOCKET_IFNAME": spec.network_interface,
        "NCCL_SOCKET_IFNAME": spec.network_interface,
        "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in spec.gpu_indices),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": JAIL_TMP if root == SANDBOX_ROOT else home,
        "LANG": "C.UTF-8",
    }


def program_argv(spec: HostSpec, root: str) -> list[str]:
    """The argv of the program (never a shell): interpreter flags are fixed by the platform.

    Container mode runs the entry with no arguments, as `docker run IMAGE train` does.
    """
    entry = spec.entry_point
    # -E: ignore PYTHON* variables, -s: no user site; tenants cannot alter interpreter start-up.
    python = [str(spec.python), "-E", "-s", "-u"]
    path = f"{root}/code/{entry.value}"
    if entry.kind == "script":
        head = [*python, path]
    elif entry.kind == "module":
        head = [*python, "-m", entry.value]
    else:
        head = [*_interpreter(spec, python), path]
    return head if spec.mode == "container" else head + user_args(spec)


def _interpreter(spec: HostSpec, python: list[str]) -> list[str]:
    """What runs an executable entry: the resolved interpreter, or nothing (the kernel execs it)."""
    name = spec.interpreter or shebang_interpreter(spec.code_dir / spec.entry_point.value)
    if name is None:
        return []
    return python if is_python_name(name) else [f"/bin/{name}"]


def is_python_name(name: str) -> bool:
    """`python`, `python3` or `python3.X`: names that mean the algorithm environment's python."""
    base = PurePosixPath(name).name
    if base in ("python", "python3"):
        return True
    minor = base.removeprefix("python3.")
    return base != minor and minor.isdigit() and minor.isascii()


_SHEBANG_BYTES = 256


def shebang_interpreter(path: Path) -> str | None:
    """`python` when the file's `#!` line names a python (`/usr/bin/env python3.9`), else None.

    Such a line names the image's interpreter; here it means the algorithm environment's.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(_SHEBANG_BYTES).split(b"\n", 1)[0]
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].decode("utf-8", "replace").split()
    if words and PurePosixPath(words[0]).name == "env":
        words = [w for w in words[1:] if not w.startswith("-")]
    return "python" if words and is_python_name(words[0]) else None

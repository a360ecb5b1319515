"""The SageMaker training-container contract: the /opt/ml tree, environment and argv of one host.

Everything tenant-controlled is validated here so it can never pick the code that runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from forgeml.domain.checkpoints import local_path_problem
from forgeml.domain.errors import InvalidInput
from forgeml.training.spec import HostSpec

SANDBOX_ROOT = "/opt/ml"
JAIL_TMP = "/tmp"  # noqa: S108 - a private tmpfs inside the jail, not the host's /tmp
GROUP_NAME = "homogeneousCluster"
_CHANNEL = re.compile(r"[A-Za-z0-9._-]{1,64}")
_HP_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,255}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_HOST = re.compile(r"algo-[1-9][0-9]{0,3}")
# Names the launcher sets itself, or that change how an interpreter, loader or shell starts.
_DENIED_NAMES = {
    "PATH", "HOME", "TMPDIR", "BASH_ENV", "ENV", "IFS", "CDPATH", "PS4", "SHELLOPTS", "BASHOPTS",
    "GLOBIGNORE", "PERL5LIB", "PERL5OPT", "PERLLIB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS",
    "NODE_PATH", "JAVA_TOOL_OPTIONS", "TRAINING_JOB_NAME", "CUDA_VISIBLE_DEVICES", "MASTER_ADDR",
    "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK",
    "LOCAL_WORLD_SIZE", "GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME", "LANG", "LC_ALL",
}  # fmt: skip
_DENIED_PREFIXES = ("SM_", "SAGEMAKER_", "FORGEML_", "LD_", "PYTHON", "BASH_FUNC_", "GCONV_")
_MAX_ENV = 48
_MAX_VALUE = 4096


@dataclass(frozen=True)
class HostLayout:
    """The host-side paths of one host's /opt/ml tree (what the launcher reads and writes)."""

    root: Path
    checkpoint_rel: str = "checkpoints"

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def config_dir(self) -> Path:
        return self.root / "input" / "config"

    @property
    def data_dir(self) -> Path:
        return self.root / "input" / "data"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.root / "output" / "data"

    @property
    def failure_file(self) -> Path:
        return self.root / "output" / "failure"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / self.checkpoint_rel

    @property
    def code_dir(self) -> Path:
        return self.root / "code"

    @property
    def artifacts_dir(self) -> Path:
        """Packed outputs; outside the tree the program can write to."""
        return self.root.parent / f"{self.root.name}.artifacts"

    @property
    def private_dir(self) -> Path:
        """Launcher-only files (sandbox /etc, home of unsandboxed runs)."""
        return self.root.parent / f"{self.root.name}.private"


def validate_spec(spec: HostSpec) -> None:
    """Raise `InvalidInput` listing every problem with the tenant- and owner-supplied values."""
    problems: list[dict[str, str]] = []

    def bad(loc: str, msg: str) -> None:
        problems.append({"loc": loc, "msg": msg})

    if spec.host not in spec.hosts:
        bad("host", f"{spec.host!r} is not one of the job's hosts")
    for host in spec.hosts:
        if not _HOST.fullmatch(host):
            bad("hosts", f"{host!r} is not a host name like algo-1")
    for name in spec.channels:
        if not _CHANNEL.fullmatch(name) or name in {".", ".."}:
            bad(f"channels.{name}", "channel names must match [A-Za-z0-9._-]+ (max 64)")
    for key, value in spec.hyperparameters.items():
        if not _HP_KEY.fullmatch(key):
            bad(f"hyperparameters.{key}", "invalid hyperparameter name")
        if "\0" in value or len(value) > _MAX_VALUE:
            bad(f"hyperparameters.{key}", "value has a NUL byte or is too long")
    if len(spec.user_env) > _MAX_ENV:
        bad("environment", f"at most {_MAX_ENV} variables")
    for name, value in spec.user_env.items():
        if env_name_problem(name):
            bad(f"environment.{name}", env_name_problem(name) or "")
        if "\0" in value or len(value) > _MAX_VALUE:
            bad(f"environment.{name}", "value has a NUL byte or is too long")
    _check_entry_point(spec, bad)
    if why := local_path_problem(f"{SANDBOX_ROOT}/{spec.checkpoint_rel}"):
        bad("checkpoint_rel", why)
    if problems:
        raise InvalidInput.fields(problems)


def env_name_problem(name: str) -> str | None:
    """Why a tenant may not set this environment variable, or None when it may."""
    if not _ENV_NAME.fullmatch(name):
        return "environment variable names must match [A-Za-z_][A-Za-z0-9_]*"
    upper = name.upper()
    if upper in _DENIED_NAMES or upper.startswith(_DENIED_PREFIXES):
        return "this variable is reserved by the platform"
    return None


def _check_entry_point(spec: HostSpec, bad: Any) -> None:
    entry = spec.entry_point
    if entry.kind == "module":
        if not _MODULE.fullmatch(entry.value):
            bad("entry_point", "not a dotted module name")
        return
    rel = PurePosixPath(entry.value)
    if rel.is_absolute() or ".." in rel.parts or not entry.value or "\0" in entry.value:
        bad("entry_point", "must be a relative path inside the code directory")
        return
    target = spec.code_dir / rel
    code_root = spec.code_dir.resolve()
    if not target.resolve().is_relative_to(code_root) or not target.is_file():
        bad("entry_point", f"{entry.value!r} is not a file inside the code directory")


def decode_value(value: str) -> Any:
    """Like sagemaker-training: JSON-decodable strings become numbers/bools, others stay text."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def user_hyperparameters(spec: HostSpec) -> dict[str, str]:
    return {k: v for k, v in spec.hyperparameters.items() if not k.startswith("sagemaker_")}


def user_args(spec: HostSpec) -> list[str]:
    """`--key value` pairs sorted by key; `sagemaker_*` framework keys are withheld."""
    args: list[str] = []
    for key, value in sorted(user_hyperparameters(spec).items()):
        args += [f"--{key}", value]
    return args


def resource_config(spec: HostSpec) -> dict[str, Any]:
    return {
        "current_host": spec.host,
        "current_instance_type": spec.instance_type,
        "current_group_name": GROUP_NAME,
        "hosts": list(spec.hosts),
        "instance_groups": [
            {
                "instance_group_name": GROUP_NAME,
                "instance_type": spec.instance_type,
                "hosts": list(spec.hosts),
            }
        ],
        "network_interface_name": spec.network_interface,
    }


def input_data_config(spec: HostSpec) -> dict[str, Any]:
    return {
        name: {
            "ContentType": ch.content_type,
            "TrainingInputMode": ch.input_mode,
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
        for name, ch in sorted(spec.channels.items())
    }


def build_tree(spec: HostSpec) -> HostLayout:
    """Create the host's /opt/ml tree under `spec.work_root` and write the three config files."""
    layout = HostLayout(spec.work_root, spec.checkpoint_rel)
    for path in (
        layout.config_dir,
        layout.data_dir,
        layout.model_dir,
        layout.output_data_dir,
        layout.output_dir / "intermediate",
        layout.checkpoints_dir,
        layout.artifacts_dir,
        layout.private_dir,
    ):
        path.mkdir(parents=True, exist_ok=True)
    configs = {
        "hyperparameters.json": dict(spec.hyperparameters),
        "inputdataconfig.json": input_data_config(spec),
        "resourceconfig.json": resource_config(spec),
    }
    for name, doc in configs.items():
        (layout.config_dir / name).write_text(json.dumps(doc, indent=2, sort_keys=True))
    # Links make the same tree usable without a sandbox; inside one, bind mounts replace them.
    _link(layout.code_dir, spec.code_dir)
    for name, channel in spec.channels.items():
        _link(layout.data_dir / name, channel.source)
    return layout


def _link(link: Path, target: Path) -> None:
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        link.rmdir()
    link.symlink_to(target.resolve(), target_is_directory=True)


def training_env(spec: HostSpec, root: str) -> dict[str, Any]:
    """The SM_TRAINING_ENV document, with paths as the program sees them under `root`."""
    hps = {k: decode_value(v) for k, v in user_hyperparameters(spec).items()}
    framework = {
        k: decode_value(v) for k, v in spec.hyperparameters.items() if k.startswith("sagemaker_")
    }
    master = spec.hosts[0]
    entry = spec.entry_point
    module_name = entry.value if entry.kind == "module" else PurePosixPath(entry.value).stem
    return {
        "additional_framework_parameters": framework,
        "channel_input_dirs": {n: f"{root}/input/data/{n}" for n in sorted(spec.channels)},
        "current_host": spec.host,
        "current_instance_group": GROUP_NAME,
        "current_instance_group_hosts": list(spec.hosts),
        "current_instance_type": spec.instance_type,
        "distribution_hosts": list(spec.hosts),
        "distribution_instance_groups": [GROUP_NAME],
        "framework_module": None,
        "hosts": list(spec.hosts),
        "hyperparameters": hps,
        "input_config_dir": f"{root}/input/config",
        "input_data_config": input_data_config(spec),
        "input_dir": f"{root}/input",
        "instance_groups": [GROUP_NAME],
        "is_hetero": False,
        "is_master": spec.host == master,
        "job_name": spec.job_name,
        "log_level": int(framework.get("sagemaker_container_log_level", 20)),
        "master_hostname": master,
        "model_dir": f"{root}/model",
        "module_dir": f"{root}/code",
        "module_name": module_name,
        "network_interface_name": spec.network_interface,
        "num_cpus": spec.cpu_count,
        "num_gpus": len(spec.gpu_indices),
        "output_data_dir": f"{root}/output/data",
        "output_dir": f"{root}/output",
        "output_intermediate_dir": f"{root}/output/intermediate",
        "resource_config": resource_config(spec),
        "user_entry_point": entry.value,
    }


def build_env(spec: HostSpec, root: str, *, home: str, python_bin: str) -> dict[str, str]:
    """The complete environment of the program: tenant variables first, then the contract."""
    doc = training_env(spec, root)
    env = dict(spec.user_env)
    # Every key of the training env becomes SM_<KEY>, JSON for non-strings (sagemaker-training).
    for key, value in doc.items():
        env[f"SM_{key.upper()}"] = value if isinstance(value, str) else _json(value)
    env["SM_HPS"] = _json(doc["hyperparameters"])
    env["SM_FRAMEWORK_PARAMS"] = _json(doc["additional_framework_parameters"])
    env["SM_CHANNELS"] = _json(sorted(spec.channels))
    for name in spec.channels:
        env[f"SM_CHANNEL_{name.upper()}"] = f"{root}/input/data/{name}"
    for key, value in doc["hyperparameters"].items():
        env[f"SM_HP_{key.upper()}"] = value if isinstance(value, str) else _json(value)
    env["SM_USER_ARGS"] = _json(user_args(spec))
    env["SM_TRAINING_ENV"] = _json(doc)
    env.update(_process_env(spec, root, home=home, python_bin=python_bin))
    return env


def _process_env(spec: HostSpec, root: str, *, home: str, python_bin: str) -> dict[str, str]:
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
    """The argv of the program (never a shell): interpreter flags are fixed by the platform."""
    entry = spec.entry_point
    # -E: ignore PYTHON* variables, -s: no user site; tenants cannot alter interpreter start-up.
    python = [str(spec.python), "-E", "-s", "-u"]
    if entry.kind == "script":
        head = [*python, f"{root}/code/{entry.value}"]
    elif entry.kind == "module":
        head = [*python, "-m", entry.value]
    else:
        head = [f"{root}/code/{entry.value}"]
    return head + user_args(spec)

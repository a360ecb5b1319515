"""The SageMaker training-container contract: the /opt/ml tree, environment and argv of one host.

Everything tenant-controlled is validated here so it can never pick the code that runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

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
    def success_file(self) -> Path:
        return self.root / "output" / "success"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

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
    layout = HostLayout(spec.work_root)
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

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
from forgeml.domain.tenant_inputs import (
    MAX_ENV,
    channel_name_problem,
    env_value_problem,
    reserved_env_problem,
)
from forgeml.training.spec import HostSpec

SANDBOX_ROOT = "/opt/ml"
JAIL_TMP = "/tmp"  # noqa: S108 - a private tmpfs inside the jail, not the host's /tmp
GROUP_NAME = "homogeneousCluster"
_HP_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,255}")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_HOST = re.compile(r"algo-[1-9][0-9]{0,3}")
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
    def success_file(self) -> Path:
        return self.root / "output" / "success"

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
        if why := channel_name_problem(name):
            bad(f"channels.{name}", why)
    for key, value in spec.hyperparameters.items():
        if not _HP_KEY.fullmatch(key):
            bad(f"hyperparameters.{key}", "invalid hyperparameter name")
        if "\0" in value or len(value) > _MAX_VALUE:
            bad(f"hyperparameters.{key}", "value has a NUL byte or is too long")
    # Submit already allowed only the algorithm's declared names; this is the second line.
    if len(spec.user_env) > MAX_ENV:
        bad("environment", f"at most {MAX_ENV} variables")
    for name, value in spec.user_env.items():
        if why := reserved_env_problem(name) or env_value_problem(value):
            bad(f"environment.{name}", why)
    _check_entry_point(spec, bad)
    if why := local_path_problem(f"{SANDBOX_ROOT}/{spec.checkpoint_rel}"):
        bad("checkpoint_rel", why)
    if problems:
        raise InvalidInput.fields(problems)


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

"""What one host of a training job runs with (`HostSpec`) and what comes out (`HostResult`).

Plain frozen dataclasses: the job runner fills them in, `contract` and `launcher` read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Literal

EntryKind = Literal["script", "module", "executable"]
# script: SageMaker script mode (hyperparameters also as argv); container: BYOC, no arguments.
EntryMode = Literal["script", "container"]
InputMode = Literal["File"]
LogStream = Literal["stdout", "stderr", "system"]
LogVisibility = Literal["full", "redacted"]  # the manifest's `logs:`

GIB = 1024**3


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class EntryPoint:
    """How the program starts.

    `script`: a python file relative to the code dir, run by the algorithm env's python;
    `module`: a dotted module name run as `python -m`;
    `executable`: a file relative to the code dir.
    """

    kind: EntryKind
    value: str


@dataclass(frozen=True)
class ChannelSpec:
    """One input channel: a local folder that already holds the staged files."""

    source: Path
    content_type: str = "application/octet-stream"
    input_mode: InputMode = "File"


@dataclass(frozen=True)
class MetricDefinition:
    """A metric scraped from the log: the first group of `regex` parsed as float."""

    name: str
    regex: str


@dataclass(frozen=True)
class HostSpec:
    """Everything needed to run one host (`algo-N`) of a training job on this node."""

    job_name: str
    host: str
    hosts: tuple[str, ...]
    instance_type: str
    entry_point: EntryPoint
    code_dir: Path
    python: Path
    work_root: Path
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, ChannelSpec] = field(default_factory=dict)
    cpu_count: int = 1
    cpu_hard_cap: bool = False  # a CFS quota at cpu_count, not only a weight
    gpu_indices: tuple[int, ...] = ()
    memory_limit_bytes: int = 4 * GIB
    max_processes: int = 512
    max_file_size_bytes: int = 16 * GIB
    max_open_files: int = 4096
    max_runtime_s: float = 24 * 3600.0
    stop_grace_s: float = 30.0
    user_env: Mapping[str, str] = field(default_factory=dict)
    metric_definitions: tuple[MetricDefinition, ...] = ()
    network_allowed: bool = False
    master_port: int = 7777
    # Address of every host as the program should dial it; loopback when all run on one node.
    host_addresses: Mapping[str, str] = field(default_factory=dict)
    network_interface: str = "lo"
    # The checkpoint folder relative to /opt/ml (CheckpointConfig.LocalPath, validated upstream).
    checkpoint_rel: str = "checkpoints"
    mode: EntryMode = "script"
    # What runs an executable entry: None reads its shebang; python names mean `python` above.
    interpreter: str | None = None
    region: str = ""
    log_visibility: LogVisibility = "full"
    # Disk cap over everything the host writes (training.volume); 0: not enforced.
    volume_bytes: int = 0
    volume_gb: int = 0  # what the job asked for, for the message
    volume_mode: Literal["auto", "mount", "watch"] = "auto"
    resource_class: str = ""  # the class's name (Ray: the custom resource that pins it to nodes)

    def __post_init__(self) -> None:
        # Freeze the mappings so a spec shared between threads cannot change under the launcher.
        object.__setattr__(self, "hyperparameters", _frozen(self.hyperparameters))
        object.__setattr__(self, "user_env", _frozen(self.user_env))
        object.__setattr__(self, "channels", MappingProxyType(dict(self.channels)))
        object.__setattr__(self, "hosts", tuple(self.hosts))
        object.__setattr__(self, "gpu_indices", tuple(self.gpu_indices))
        object.__setattr__(self, "metric_definitions", tuple(self.metric_definitions))
        object.__setattr__(self, "host_addresses", _frozen(self.host_addresses))

    @property
    def rank(self) -> int:
        return self.hosts.index(self.host)

    def address_of(self, host: str) -> str:
        return self.host_addresses.get(host, "127.0.0.1")


class Outcome(StrEnum):
    """How a host run ended (SageMaker names)."""

    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"
    MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"


@dataclass(frozen=True)
class LogLine:
    """One line of the program's output, or a `system` line written by the launcher."""

    time: datetime
    host: str
    stream: LogStream
    text: str


@dataclass(frozen=True)
class MetricPoint:
    time: datetime
    value: float


@dataclass(frozen=True)
class HostResult:
    """The outcome of one host run; artifacts are packed even when it failed or was stopped."""

    exit_code: int | None
    outcome: Outcome
    failure_reason: str | None
    metrics_final: Mapping[str, float]
    metric_series: Mapping[str, tuple[MetricPoint, ...]]
    started_at: datetime
    ended_at: datetime
    model_artifact: Path
    output_artifact: Path
    sandboxed: bool
    # A platform limit (the job's volume) failed the run, not the program: limit_exceeded.
    over_limit: bool = False


@dataclass(frozen=True)
class Overall:
    """The job's outcome from its hosts' results."""

    outcome: Outcome
    reason: str | None = None
    over_limit: bool = False


def overall(results: dict[str, HostResult]) -> Overall:
    """The first failure wins (with whether a limit caused it), then max runtime, then a stop."""
    outcomes = {r.outcome for r in results.values()}
    failed = [r for _, r in sorted(results.items()) if r.outcome == Outcome.FAILED]
    if failed:
        return Overall(Outcome.FAILED, failed[0].failure_reason, failed[0].over_limit)
    for o in (Outcome.MAX_RUNTIME_EXCEEDED, Outcome.STOPPED):
        if o in outcomes:
            return Overall(o, next(r.failure_reason for r in results.values() if r.outcome == o))
    return Overall(Outcome.COMPLETED)

"""Training jobs: the status machine (one table), job spec validation, and the billing rule.

Statuses use SageMaker's names: a primary `status` and a finer `secondary` one; the table below
is keyed by the secondary status because that is what every write changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from forgeml.domain.checkpoints import CheckpointConfig, local_path_problem
from forgeml.domain.errors import InvalidInput
from forgeml.domain.tenant_inputs import channel_name_problem

# The limits of a job spec, defined here only: the API schema advertises (and mostly enforces)
# them, `spec_problems` checks them for every caller (tests/unit/test_limits_once.py).
NAME_MAX = 63
NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
NAME_RE = re.compile(NAME_PATTERN)
TAG_KEY_PATTERN = r"^[\w.:/=+@-]{1,128}$"
TAG_KEY_RE = re.compile(TAG_KEY_PATTERN)
MAX_TAG_VALUE = 256
MAX_TAGS = 50
MAX_INSTANCES = 16
MAX_ATTEMPTS = 10
MAX_LOG_LINE = 64 * 1024  # bytes of one log line the launcher reads and the log keeps


class Status(StrEnum):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


class Secondary(StrEnum):
    PENDING = "Pending"
    STARTING = "Starting"
    DOWNLOADING = "Downloading"
    TRAINING = "Training"
    UPLOADING = "Uploading"
    INTERRUPTED = "Interrupted"
    STOPPING = "Stopping"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"
    MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
    MAX_WAIT_TIME_EXCEEDED = "MaxWaitTimeExceeded"


S = Secondary
# What a runner says while it prepares (and on first use builds) the algorithm's environment.
ENV_MESSAGE = "preparing the algorithm environment (built on first use)"
_PHASES: dict[str, str] = {
    S.PENDING: "queued",
    S.STARTING: "starting",
    S.DOWNLOADING: "staging data",
    S.TRAINING: "training",
    S.UPLOADING: "uploading",
    S.INTERRUPTED: "interrupted, will retry",
    S.STOPPING: "stopping",
}


def phase(secondary: str, message: str | None) -> str:
    """A person's name for what a job is doing now: the secondary status, except that
    Starting while the environment builds reads "building environment"."""
    if secondary == S.STARTING and message == ENV_MESSAGE:
        return "building environment"
    return _PHASES.get(secondary, secondary)


_IP = Status.IN_PROGRESS
_QUEUED_NEXT = {S.STARTING, S.STOPPED, S.FAILED, S.MAX_WAIT_TIME_EXCEEDED}
_LEAVE_RUN = {S.STOPPING, S.INTERRUPTED, S.FAILED}
# No Stopping after Uploading: the program has ended and its outcome is fixed (the stop rule:
# whichever of "stop requested" and "program ended" commits first decides; see services/jobs.stop).
_UPLOAD_NEXT = {S.COMPLETED, S.FAILED, S.MAX_RUNTIME_EXCEEDED, S.INTERRUPTED}
# THE transition table: secondary status -> (primary status, allowed next secondary statuses).
TRANSITIONS: dict[Secondary, tuple[Status, frozenset[Secondary]]] = {
    S.PENDING:                (_IP, frozenset(_QUEUED_NEXT)),
    S.STARTING:               (_IP, frozenset({S.DOWNLOADING, *_LEAVE_RUN})),
    S.DOWNLOADING:            (_IP, frozenset({S.TRAINING, *_LEAVE_RUN})),
    S.TRAINING:               (_IP, frozenset({S.UPLOADING, *_LEAVE_RUN})),
    S.UPLOADING:              (_IP, frozenset(_UPLOAD_NEXT)),
    S.INTERRUPTED:            (_IP, frozenset(_QUEUED_NEXT)),
    S.STOPPING:               (Status.STOPPING, frozenset({S.STOPPED})),
    S.COMPLETED:              (Status.COMPLETED, frozenset()),
    S.FAILED:                 (Status.FAILED, frozenset()),
    S.STOPPED:                (Status.STOPPED, frozenset()),
    S.MAX_RUNTIME_EXCEEDED:   (Status.STOPPED, frozenset()),
    S.MAX_WAIT_TIME_EXCEEDED: (Status.STOPPED, frozenset()),
}  # fmt: skip

CLAIMABLE = frozenset({S.PENDING, S.INTERRUPTED})
RUNNING = frozenset({S.STARTING, S.DOWNLOADING, S.TRAINING, S.UPLOADING, S.STOPPING})
QUEUED_OR_RUNNING = CLAIMABLE | RUNNING
# Stop on these ends at once (nothing runs); on RUNNING ones the runner is asked to stop.
STOP_DIRECTLY = CLAIMABLE


def primary(secondary: Secondary) -> Status:
    return TRANSITIONS[secondary][0]


def allowed_from(target: Secondary) -> frozenset[Secondary]:
    """Every secondary status that may move to `target` (the WHERE of an atomic update)."""
    return frozenset(s for s, (_, nxt) in TRANSITIONS.items() if target in nxt)


def can_move(current: Secondary, target: Secondary) -> bool:
    return target in TRANSITIONS[current][1]


def is_terminal(secondary: Secondary | str) -> bool:
    return not TRANSITIONS[Secondary(secondary)][1]


def event_types(target: Secondary) -> list[str]:
    """Events a transition to `target` emits (all emit state_changed)."""
    extra = {
        Status.COMPLETED: "training_job.completed",
        Status.FAILED: "training_job.failed",
        Status.STOPPED: "training_job.stopped",
    }.get(primary(target))
    return ["training_job.state_changed", *([extra] if extra else [])]


# --- job spec -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelRef:
    """What the tenant names as a channel's input: a dataset and optionally a version number."""

    dataset_id: str
    version: int | None = None


@dataclass(frozen=True)
class JobSpec:
    """A create request after syntactic checks; algorithm- and data-level checks follow."""

    name: str
    algorithm: str
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    channels: Mapping[str, ChannelRef] = field(default_factory=dict)
    resource_class: str = "cpu.small"
    instance_count: int = 1
    volume_gb: int = 10
    max_runtime_s: int = 86400
    max_wait_s: int | None = None
    max_attempts: int = 3
    checkpointing: bool = True
    checkpoint: CheckpointConfig | None = None
    preemptible: bool = False
    environment: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


Problems = list[dict[str, str]]


def spec_problems(spec: JobSpec, *, max_runtime_limit_s: int) -> Problems:
    """Every problem of the spec on its own (no database): name, resources, limits, channels,
    tags. The environment is checked against the algorithm's declarations (`tenant_inputs`)."""
    p: Problems = []

    def bad(loc: str, msg: str) -> None:
        p.append({"loc": loc, "msg": msg})

    if not NAME_RE.fullmatch(spec.name):
        bad("name", "must match [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
    if not 1 <= spec.instance_count <= MAX_INSTANCES:
        bad("resources.instance_count", f"must be between 1 and {MAX_INSTANCES}")
    if spec.volume_gb < 1:
        bad("resources.volume_gb", "must be at least 1")
    if spec.max_runtime_s <= 0:
        bad("stopping_condition.max_runtime_s", "must be greater than 0")
    elif spec.max_runtime_s > max_runtime_limit_s:
        bad("stopping_condition.max_runtime_s", f"must be at most {max_runtime_limit_s}")
    if spec.max_wait_s is not None and spec.max_wait_s < spec.max_runtime_s:
        bad("stopping_condition.max_wait_s", "must be at least max_runtime_s")
    if not 1 <= spec.max_attempts <= MAX_ATTEMPTS:
        bad("retry.max_attempts", f"must be between 1 and {MAX_ATTEMPTS}")
    p += _tag_problems(spec.tags)
    # No channel at all is a valid job (SageMaker allows no InputDataConfig); an algorithm that
    # needs data says so with `required: true` on the channel (checked against its card).
    for channel in spec.channels:
        if why := channel_name_problem(channel):
            bad(f"input_data.{channel[:64]}", why)
    if spec.checkpoint is not None:
        if why := local_path_problem(spec.checkpoint.local_path):
            bad("checkpoint_config.local_path", why)
        if not spec.checkpointing:
            bad("checkpoint_config", "checkpointing is turned off for this job")
    return p


def _tag_problems(tags: Mapping[str, str]) -> Problems:
    p: Problems = []
    if len(tags) > MAX_TAGS:
        p.append({"loc": "tags", "msg": f"at most {MAX_TAGS} tags"})
    for key, value in tags.items():
        if not TAG_KEY_RE.fullmatch(key) or key.lower().startswith("forgeml:"):
            p.append({"loc": f"tags.{key[:64]}", "msg": "invalid or reserved tag key"})
        if len(value) > MAX_TAG_VALUE:
            p.append({"loc": f"tags.{key[:64]}", "msg": f"value longer than {MAX_TAG_VALUE}"})
    return p


def raise_if(problems: Problems) -> None:
    if problems:
        raise InvalidInput.fields(problems)


# --- billing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptTimes:
    """One attempt as billing sees it."""

    starting_at: datetime | None
    training_started_at: datetime | None
    ended_at: datetime | None
    billable: bool  # False for platform failures and preemption
    number: int = 0


def attempt_billable_seconds(a: AttemptTimes) -> int:
    """One attempt's billed seconds per instance: from the program's start to the attempt's
    end (builds, staging and queueing are the platform's time); 0 for a non-billable one."""
    if not (a.billable and a.training_started_at and a.ended_at):
        return 0
    return round(max(0.0, (a.ended_at - a.training_started_at).total_seconds()))


def billable_seconds(attempts: list[AttemptTimes], instance_count: int) -> int:
    """Billed seconds of each billable attempt x instance count (the usage records' sum)."""
    return sum(attempt_billable_seconds(a) for a in attempts) * instance_count


def training_seconds(attempts: list[AttemptTimes]) -> int:
    """Wall time the program ran, over billable attempts (SageMaker's TrainingTimeInSeconds)."""
    total = 0.0
    for a in attempts:
        if a.billable and a.training_started_at and a.ended_at:
            total += max(0.0, (a.ended_at - a.training_started_at).total_seconds())
    return round(total)

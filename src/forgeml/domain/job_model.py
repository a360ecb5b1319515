"""Frozen records of training jobs as the database returns them (no I/O here)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# `ml.<family>.<size>` as SageMaker spells instance types (ml.m5.xlarge, ml.p4d.24xlarge).
INSTANCE_TYPE_RE = re.compile(r"ml\.[a-z][a-z0-9-]{0,15}\.[a-z0-9]{1,16}")
# SageMaker's general-purpose (m5) and single-GPU-per-4-vCPU (g5) sizes, smallest first.
_M5_SIZES = ((2, "large"), (4, "xlarge"), (8, "2xlarge"), (16, "4xlarge"), (32, "8xlarge"),
             (48, "12xlarge"), (64, "16xlarge"), (96, "24xlarge"))  # fmt: skip
_G5_SIZES = ((1, "xlarge"), (4, "12xlarge"), (8, "48xlarge"))


def instance_type_problem(value: str) -> str | None:
    """Why `value` is not an ml.* instance type name, or None."""
    if not INSTANCE_TYPE_RE.fullmatch(value):
        return "an instance type like ml.m5.xlarge (ml.<family>.<size>)"
    return None


def default_instance_type(cpus: int, gpus: int) -> str:
    """The smallest m5 (or, with GPUs, g5) type that holds the class: a sensible stand-in."""
    if gpus > 0:
        size = next((s for n, s in _G5_SIZES if n >= gpus), _G5_SIZES[-1][1])
        return f"ml.g5.{size}"
    return f"ml.m5.{next((s for n, s in _M5_SIZES if n >= cpus), _M5_SIZES[-1][1])}"


@dataclass(frozen=True)
class TrainingJob:
    id: str
    tenant_id: str
    name: str
    status: str
    secondary_status: str
    status_message: str | None
    algorithm_id: str | None
    algorithm_version_id: str
    algorithm_name: str
    algorithm_version: str
    algorithm_digest: str
    hyperparameters: dict[str, str]
    inputs: dict[str, Any]
    resource_class: str
    instance_count: int
    volume_gb: int
    max_runtime_s: int
    max_wait_s: int | None
    max_attempts: int
    checkpointing: bool
    preemptible: bool
    network: bool
    environment: dict[str, str]
    tags: dict[str, str]
    attempt: int
    runner_id: str | None
    lease_expires_at: datetime | None
    gpu_indices: list[int]
    pending_reason: str | None
    failure_reason: str | None
    final_metrics: dict[str, float]
    artifacts: dict[str, Any]
    billable_seconds: int | None
    training_seconds: int | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    training_started_at: datetime | None
    ended_at: datetime | None
    checkpoint_config: dict[str, Any] | None = None  # location_id, location_name, local_path


@dataclass(frozen=True)
class Transition:
    status: str
    secondary_status: str
    start_time: datetime
    end_time: datetime | None
    message: str
    attempt: int


@dataclass(frozen=True)
class LogEntry:
    id: int
    at: datetime
    host: str
    stream: str
    text: str
    attempt: int


@dataclass(frozen=True)
class MetricSample:
    name: str
    at: datetime
    value: float
    host: str
    attempt: int


@dataclass(frozen=True)
class ResourceClass:
    name: str
    description: str
    cpus: int
    memory_bytes: int
    gpus: int
    max_volume_gb: int
    price_per_hour: float
    enabled: bool
    instance_type: str | None = None  # the ml.* type the class stands for, when declared

    @property
    def effective_instance_type(self) -> str:
        """What programs see as SM_CURRENT_INSTANCE_TYPE."""
        return self.instance_type or default_instance_type(self.cpus, self.gpus)


@dataclass(frozen=True)
class ClassDemand:
    """What the queue asks of one resource class: its queued jobs and their hosts' resources
    (an autoscaler's input: `/metrics` and Ray's `request_resources`)."""

    resource_class: str
    jobs: int
    instances: int
    cpus: int  # per instance
    memory_bytes: int
    gpus: int


@dataclass(frozen=True)
class Runner:
    id: str
    name: str
    executor: str
    cpus: int
    memory_bytes: int
    gpu_indices: list[int]
    started_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class Lease:
    """What a runner holds for one attempt: every write it makes carries these."""

    job_id: str
    tenant_id: str
    attempt: int
    token: str
    runner_id: str

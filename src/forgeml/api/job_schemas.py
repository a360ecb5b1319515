"""Request and response bodies of the training-jobs and scheduling API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictBool

from forgeml.api.checkpoint_schemas import CheckpointConfigIn, CheckpointConfigOut
from forgeml.api.mirror import mirrors
from forgeml.api.schemas import BIGINT_MAX, INT_MAX, Input, Output
from forgeml.domain import jobs as limits
from forgeml.domain.build_progress import EnvironmentBuild
from forgeml.domain.checkpoints import CheckpointConfig
from forgeml.domain.hyperparameters import MAX_HYPERPARAMETERS
from forgeml.domain.job_model import (
    INSTANCE_TYPE_RE,
    LogEntry,
    MetricSample,
    ResourceClass,
    Runner,
    Transition,
)
from forgeml.domain.jobs import ChannelRef, JobSpec, phase
from forgeml.domain.tenant_inputs import MAX_ENV, MAX_ENV_VALUE
from forgeml.services.jobs.submit import shown_lineage


class ChannelIn(Input):
    dataset_id: str = Field(max_length=32)
    version: int | None = Field(
        default=None, ge=1, le=INT_MAX, description="default: the latest committed"
    )


class ResourcesIn(Input):
    resource_class: str = Field(default="cpu.small", max_length=63)
    instance_count: int = Field(default=1, ge=1, le=limits.MAX_INSTANCES)
    volume_gb: int = Field(default=10, ge=1, le=16384)


class StoppingIn(Input):
    max_runtime_s: int | None = Field(default=None, description="> 0 and at most the limit")
    max_wait_s: int | None = Field(default=None, ge=1, le=INT_MAX)


class RetryIn(Input):
    max_attempts: int = Field(
        default=3,
        description=f"platform failures are retried; 1..{limits.MAX_ATTEMPTS}",
        json_schema_extra={"minimum": 1, "maximum": limits.MAX_ATTEMPTS},
    )


TagValue = Annotated[str, Field(max_length=limits.MAX_TAG_VALUE)]
EnvValue = Annotated[str, Field(max_length=MAX_ENV_VALUE)]


class JobCreate(Input):
    # The name's pattern is advertised, not enforced here: `spec_problems` checks it together
    # with everything else, so a bad request lists every problem at once.
    name: str = Field(
        min_length=1,
        max_length=limits.NAME_MAX,
        json_schema_extra={"pattern": limits.NAME_PATTERN},
        examples=["churn-2026-11-24"],
    )
    algorithm: str = Field(min_length=1, max_length=200, description="version id, or name:version")
    hyperparameters: dict[str, Any] = Field(default_factory=dict, max_length=MAX_HYPERPARAMETERS)
    input_data: dict[str, ChannelIn] = Field(default_factory=dict, max_length=64)
    resources: ResourcesIn = Field(default_factory=ResourcesIn)
    stopping_condition: StoppingIn = Field(default_factory=StoppingIn)
    retry: RetryIn = Field(default_factory=RetryIn)
    checkpointing: StrictBool = True
    checkpoint_config: CheckpointConfigIn | None = Field(
        default=None, description="restore from and sync to a tenant checkpoint location"
    )
    preemptible: StrictBool = False
    environment: dict[str, EnvValue] = Field(default_factory=dict, max_length=MAX_ENV)
    tags: dict[str, TagValue] = Field(default_factory=dict, max_length=limits.MAX_TAGS)

    def to_spec(self, default_runtime_s: int) -> JobSpec:
        stop = self.stopping_condition
        cfg = self.checkpoint_config
        return JobSpec(
            name=self.name,
            algorithm=self.algorithm,
            hyperparameters=self.hyperparameters,
            channels={k: ChannelRef(v.dataset_id, v.version) for k, v in self.input_data.items()},
            resource_class=self.resources.resource_class,
            instance_count=self.resources.instance_count,
            volume_gb=self.resources.volume_gb,
            max_runtime_s=stop.max_runtime_s
            if stop.max_runtime_s is not None
            else default_runtime_s,
            max_wait_s=stop.max_wait_s,
            max_attempts=self.retry.max_attempts,
            checkpointing=self.checkpointing,
            checkpoint=CheckpointConfig(cfg.location, cfg.local_path) if cfg else None,
            preemptible=self.preemptible,
            environment=self.environment,
            tags=self.tags,
        )


@mirrors(Transition)
class TransitionOut(Output):
    pass


class JobOut(Output):
    id: str
    tenant_id: str
    name: str
    status: str
    secondary_status: str
    status_message: str | None
    phase: str = Field("", description="what the job does now, in words (building environment…)")
    pending_reason: str | None
    failure_reason: str | None
    algorithm_version_id: str
    algorithm_name: str
    algorithm_version: str
    algorithm_digest: str
    hyperparameters: dict[str, str]
    inputs: dict[str, Any] = Field(
        description="lineage: own datasets with digest and files; platform datasets with id, "
        "version number and total size only"
    )
    resource_class: str
    instance_count: int
    volume_gb: int
    max_runtime_s: int
    max_wait_s: int | None
    max_attempts: int
    attempt: int
    checkpointing: bool
    checkpoint_config: CheckpointConfigOut | None = None
    preemptible: bool
    environment: dict[str, str]
    tags: dict[str, str]
    gpu_indices: list[int]
    final_metrics: dict[str, float]
    artifacts: dict[str, Any]
    training_seconds: int | None
    billable_seconds: int | None
    created_at: datetime
    started_at: datetime | None
    training_started_at: datetime | None
    ended_at: datetime | None


@mirrors(EnvironmentBuild)
class EnvironmentBuildOut(Output):
    """The environment build a job waits on; the owner's log and package names stay out."""


class JobDetailOut(JobOut):
    transitions: list[TransitionOut]
    phase_seconds: dict[str, int] = Field(
        default_factory=dict,
        description="seconds per phase: queued, building, staging, training (the only billed "
        "one), uploading; a phase in progress counts until now",
    )
    environment_build: EnvironmentBuildOut | None = Field(
        default=None, description="while the job waits on its algorithm's environment build"
    )


def job_out(job: Any) -> JobOut:
    out = JobOut.model_validate(job)
    out.phase = phase(job.secondary_status, job.status_message)
    out.inputs = {ch: shown_lineage(info) for ch, info in job.inputs.items()}
    out.artifacts = {k: {"size": v.get("size")} for k, v in job.artifacts.items()}
    return out


@mirrors(LogEntry)
class LogLineOut(Output):
    pass


class LogsOut(BaseModel):
    items: list[LogLineOut]
    next_after: int
    finished: bool


@mirrors(MetricSample)
class MetricOut(BaseModel):
    id: int  # the row id, not on the sample; first, and `after`/`next_after` page by it


class MetricsOut(BaseModel):
    items: list[MetricOut]
    next_after: int


class JobEventOut(Output):
    id: str
    seq: int
    type: str
    at: datetime
    data: dict[str, Any]


class ResourceClassIn(Input):
    # the rule of services/scheduling.put_class, stated for clients
    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str = Field(default="", max_length=500)
    cpus: int = Field(ge=1, le=1024)
    memory_bytes: int = Field(ge=64 * 1024 * 1024, le=BIGINT_MAX)
    gpus: int = Field(default=0, ge=0, le=64)
    max_volume_gb: int = Field(default=100, ge=1, le=INT_MAX)
    price_per_hour: float = Field(default=0.0, ge=0)
    enabled: StrictBool = True
    instance_type: str | None = Field(
        default=None,
        max_length=63,
        pattern=f"^{INSTANCE_TYPE_RE.pattern}$",  # in the schema too, so clients see the rule
        description="The ml.* instance type the class stands for (SM_CURRENT_INSTANCE_TYPE); "
        "default: the smallest ml.m5 (ml.g5 with GPUs) type that holds it",
    )


@mirrors(ResourceClass, extra={"effective_instance_type": str})
class ResourceClassOut(Output):
    pass


@mirrors(Runner)
class RunnerOut(Output):
    pass


class QueueOut(BaseModel):
    depth: dict[str, int]
    runners: list[RunnerOut]

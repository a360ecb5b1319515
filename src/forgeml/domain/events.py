"""The event catalogue: every event type with its version and the JSON schema of its `data`.

Emitters write these payloads to the outbox (`db/events.emit`); webhooks, e-mail and the SSE
stream deliver them in the envelope built by `envelope()`. docs/events.md documents the same.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from forgeml.domain.errors import InvalidInput


class Payload(BaseModel):
    """Base of every payload: emitters may add fields later (consumers must ignore unknown ones)."""

    model_config = ConfigDict(extra="allow")


class JobStateChanged(Payload):
    job_id: str
    job_name: str
    status: str = Field(description="InProgress | Completed | Failed | Stopping | Stopped")
    secondary_status: str = Field(description="Pending, Starting, Downloading, Training, ...")
    previous_status: str | None = Field(description="the secondary status before this change")
    message: str | None = None


class JobArtifacts(Payload):
    model: str | None = Field(default=None, description="object key of model.tar.gz")
    output: str | None = Field(default=None, description="object key of output.tar.gz")


class JobFinished(Payload):
    job_id: str
    job_name: str
    status: str = Field(description="Completed | Failed | Stopped")
    failure_reason: str | None = None
    artifacts: JobArtifacts = Field(default_factory=JobArtifacts)
    billable_seconds: int | None = None
    final_metrics: dict[str, float] = Field(default_factory=dict)


class DatasetVersionCommitted(Payload):
    dataset_id: str
    dataset_name: str
    version: int
    file_count: int | None = None
    total_bytes: int | None = None


class AlgorithmRegistered(Payload):
    algorithm_id: str
    name: str
    version: str
    digest: str | None = None


class QuotaExceeded(Payload):
    quota: str = Field(description="which quota, e.g. storage_bytes or concurrent_jobs")
    limit: float
    used: float
    requested: float | None = None
    message: str | None = None


class BudgetThresholdReached(Payload):
    month: str = Field(description="YYYY-MM (UTC)")
    threshold_percent: int = Field(description="80 or 100")
    budget: float
    used: float
    hard_stop: bool = Field(description="whether new submissions are refused at 100 %")


class WebhookDisabled(Payload):
    webhook_id: str
    url_host: str = Field(description="host of the URL only: URLs may embed secrets")
    failure_count: int
    last_error: str | None = None


class WebhookPing(Payload):
    webhook_id: str
    message: str = "ping from ForgeML"


@dataclass(frozen=True)
class EventType:
    name: str
    version: int
    description: str
    payload: type[Payload]

    def schema(self) -> dict[str, Any]:
        return self.payload.model_json_schema()


_TYPES = [
    EventType(
        "training_job.state_changed",
        1,
        "A training job moved to another status or secondary status.",
        JobStateChanged,
    ),
    EventType("training_job.completed", 1, "A training job finished successfully.", JobFinished),
    EventType("training_job.failed", 1, "A training job failed.", JobFinished),
    EventType("training_job.stopped", 1, "A training job was stopped.", JobFinished),
    EventType(
        "dataset.version_committed",
        1,
        "A dataset version received all its files and became usable.",
        DatasetVersionCommitted,
    ),
    EventType(
        "algorithm.registered", 1, "An algorithm version was registered.", AlgorithmRegistered
    ),
    EventType("quota.exceeded", 1, "A request was refused by a tenant quota.", QuotaExceeded),
    EventType(
        "budget.threshold_reached",
        1,
        "A tenant's usage this month reached 80 % or 100 % of its monthly budget (once each).",
        BudgetThresholdReached,
    ),
    EventType(
        "webhook.disabled",
        1,
        "A webhook was disabled after a long streak of failed deliveries.",
        WebhookDisabled,
    ),
    EventType(
        "webhook.ping",
        1,
        "A test delivery requested for one webhook (sent to it only).",
        WebhookPing,
    ),
]
CATALOGUE: dict[str, EventType] = {t.name: t for t in _TYPES}
JOB_FINISHED = ("training_job.completed", "training_job.failed", "training_job.stopped")
_PATTERN_RE = re.compile(r"^(\*|[a-z_]+\.(\*|[a-z_]+))$")


def validate(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    """Check `data` against the type's schema (emitters call this in tests and when unsure)."""
    spec = CATALOGUE.get(type_)
    if spec is None:
        raise InvalidInput.fields([{"loc": "type", "msg": f"unknown event type {type_!r}"}])
    return spec.payload.model_validate(data).model_dump(mode="json")


def matches(patterns: list[str] | tuple[str, ...], type_: str) -> bool:
    """`training_job.*` matches every training job event; `*` matches everything."""
    return any(fnmatch.fnmatchcase(type_, p) for p in patterns)


def check_patterns(patterns: list[str], loc: str = "events") -> list[str]:
    """Validate an event-type filter: each entry is `*`, `family.*` or a known type."""
    problems = []
    for i, p in enumerate(patterns):
        if not _PATTERN_RE.match(p):
            problems.append({"loc": f"{loc}.{i}", "msg": "use '*', 'family.*' or an event type"})
        elif not any(fnmatch.fnmatchcase(t, p) for t in CATALOGUE):
            problems.append({"loc": f"{loc}.{i}", "msg": f"{p!r} matches no known event type"})
    if not patterns:
        problems.append({"loc": loc, "msg": "list at least one event type or pattern"})
    if problems:
        raise InvalidInput.fields(problems)
    return sorted(set(patterns))


@dataclass(frozen=True)
class Event:
    id: str
    seq: int
    type: str
    version: int
    tenant_id: str | None
    subject_type: str | None
    subject_id: str | None
    at: datetime
    data: dict[str, Any]


def envelope(e: Event) -> dict[str, Any]:
    """The one JSON shape of an event on every channel (webhook body, SSE `data:` line)."""
    subject = {"type": e.subject_type, "id": e.subject_id} if e.subject_id else None
    return {
        "id": e.id,
        "type": e.type,
        "version": e.version,
        "tenant_id": e.tenant_id,
        "time": e.at.isoformat().replace("+00:00", "Z"),
        "subject": subject,
        "data": e.data,
    }

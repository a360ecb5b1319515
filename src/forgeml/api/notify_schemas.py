"""Request and response bodies of the webhooks, events and notification-preferences API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, StrictBool

from forgeml.api.schemas import Input, Output
from forgeml.domain.webhooks import DeliveryState

EventPatterns = list[str]


class WebhookOut(Output):
    id: str
    tenant_id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    failure_streak: int = Field(description="consecutive failed attempts (reset by a success)")
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the signing secret; shown only in this response")


class WebhookCreate(Input):
    url: str = Field(min_length=1, max_length=2000, examples=["https://hooks.example.com/forgeml"])
    events: EventPatterns = Field(
        min_length=1, max_length=50, examples=[["training_job.*", "dataset.version_committed"]]
    )
    description: str = Field(default="", max_length=500)
    enabled: StrictBool = True
    tenant_id: str | None = Field(default=None, max_length=32, description="platform admins only")


class WebhookUpdate(Input):
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    events: EventPatterns | None = Field(default=None, min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=500)
    enabled: StrictBool | None = None


class DeliveryOut(Output):
    id: str
    tenant_id: str
    webhook_id: str
    event_id: str
    event_type: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    window_start: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_duration_ms: int | None
    last_error: str | None
    last_response: str | None = Field(description="the start of the receiver's answer")
    delivered_at: datetime | None
    created_at: datetime


class EventTypeOut(BaseModel):
    type: str
    version: int
    description: str
    data_schema: dict[str, Any] = Field(serialization_alias="schema")


class NotificationPrefsOut(Output):
    email_on_job_completed: bool
    email_on_job_failed: bool


class NotificationPrefsUpdate(Input):
    email_on_job_completed: StrictBool | None = None
    email_on_job_failed: StrictBool | None = None

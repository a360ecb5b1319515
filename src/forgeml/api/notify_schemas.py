"""Request and response bodies of the webhooks, events and notification-preferences API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, StrictBool

from forgeml.api.mirror import mirrors
from forgeml.api.schemas import Input, Output
from forgeml.domain.webhooks import Delivery, NotificationPrefs, Webhook

EventPatterns = list[str]


@mirrors(
    Webhook,
    describe={"failure_streak": "consecutive failed attempts (reset by a success)"},
)
class WebhookOut(Output):
    pass


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


@mirrors(Delivery, describe={"last_response": "the start of the receiver's answer"})
class DeliveryOut(Output):
    pass


class EventTypeOut(BaseModel):
    type: str
    version: int
    description: str
    data_schema: dict[str, Any] = Field(serialization_alias="schema")


@mirrors(NotificationPrefs, exclude=("user_id",))
class NotificationPrefsOut(Output):
    pass


class NotificationPrefsUpdate(Input):
    email_on_job_completed: StrictBool | None = None
    email_on_job_failed: StrictBool | None = None

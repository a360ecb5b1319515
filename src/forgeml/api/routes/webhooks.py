"""Webhooks (tenant admins): subscriptions, secret rotation, delivery log, redelivery, ping."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from forgeml.api.deps import CurrentActor, Paging, Svc
from forgeml.api.notify_schemas import (
    DeliveryOut,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)
from forgeml.api.routing import Routes
from forgeml.api.schemas import PageOut, page_of
from forgeml.domain.webhooks import DeliveryState
from forgeml.services.notify.webhooks import WebhookWithSecret

api = Routes(
    "/webhooks",
    tags=["webhooks"],
    errors=(401, 403),
    ids={"webhook_id": "webhook", "delivery_id": "webhook_delivery"},
)
router = api.router


def _created(new: WebhookWithSecret) -> WebhookCreated:
    return WebhookCreated(**WebhookOut.model_validate(new.webhook).model_dump(), secret=new.secret)


@api.route("POST", "webhook.create", WebhookCreated, status=201, errors=(404, 422))
def create_webhook(body: WebhookCreate, actor: CurrentActor, svc: Svc) -> WebhookCreated:
    """Subscribe a URL to event types; the signing secret is in this response only."""
    new = svc.webhooks.create(
        actor,
        url=body.url,
        events=body.events,
        description=body.description,
        enabled=body.enabled,
        tenant_id=body.tenant_id,
    )
    return _created(new)


@api.route("GET", "webhook.list", PageOut[WebhookOut], errors=(422,))
def list_webhooks(actor: CurrentActor, svc: Svc, page: Paging) -> PageOut[WebhookOut]:
    res = svc.webhooks.list(actor, cursor=page.cursor, limit=page.limit)
    return page_of(WebhookOut.model_validate, res)


@api.route("GET /{webhook_id}", "webhook.get", WebhookOut, errors=(404, 422))
def get_webhook(webhook_id: str, actor: CurrentActor, svc: Svc) -> WebhookOut:
    return WebhookOut.model_validate(svc.webhooks.get(actor, webhook_id))


@api.route("PATCH /{webhook_id}", "webhook.update", WebhookOut, errors=(404, 422))
def update_webhook(
    webhook_id: str, body: WebhookUpdate, actor: CurrentActor, svc: Svc
) -> WebhookOut:
    """Change URL, filter, description, or enable/disable (enabling resets the failure streak)."""
    changes = body.model_dump(exclude_unset=True)
    return WebhookOut.model_validate(svc.webhooks.update(actor, webhook_id, changes))


@api.route("DELETE /{webhook_id}", "webhook.delete", status=204, errors=(404, 422))
def delete_webhook(webhook_id: str, actor: CurrentActor, svc: Svc) -> Response:
    svc.webhooks.delete(actor, webhook_id)
    return Response(status_code=204)


@api.route(
    "POST /{webhook_id}/rotate-secret", "webhook.rotate_secret", WebhookCreated, errors=(404, 422)
)
def rotate_secret(webhook_id: str, actor: CurrentActor, svc: Svc) -> WebhookCreated:
    """Replace the signing secret at once; the new one is in this response only."""
    return _created(svc.webhooks.rotate_secret(actor, webhook_id))


@api.route("POST /{webhook_id}/ping", "webhook.ping", DeliveryOut, status=202, errors=(404, 422))
def ping_webhook(webhook_id: str, actor: CurrentActor, svc: Svc) -> DeliveryOut:
    """Queue a `webhook.ping` to this webhook only; follow it in the delivery log."""
    return DeliveryOut.model_validate(svc.webhooks.ping(actor, webhook_id))


@api.route(
    "GET /{webhook_id}/deliveries", "webhook.deliveries", PageOut[DeliveryOut], errors=(404, 422)
)
def list_deliveries(
    webhook_id: str,
    actor: CurrentActor,
    svc: Svc,
    page: Paging,
    state: Annotated[DeliveryState | None, Query()] = None,
) -> PageOut[DeliveryOut]:
    """The delivery log, newest first: state, attempts, last status code, timing and error."""
    res = svc.webhooks.deliveries(
        actor,
        webhook_id,
        state=state.value if state else None,
        cursor=page.cursor,
        limit=page.limit,
    )
    return page_of(DeliveryOut.model_validate, res)


@api.route(
    "GET /{webhook_id}/deliveries/{delivery_id}", "webhook.delivery", DeliveryOut, errors=(404, 422)
)
def get_delivery(webhook_id: str, delivery_id: str, actor: CurrentActor, svc: Svc) -> DeliveryOut:
    return DeliveryOut.model_validate(svc.webhooks.delivery(actor, webhook_id, delivery_id))


@api.route(
    "POST /{webhook_id}/deliveries/{delivery_id}/redeliver",
    "webhook.redeliver",
    DeliveryOut,
    status=202,
    errors=(404, 409, 422),
)
def redeliver(webhook_id: str, delivery_id: str, actor: CurrentActor, svc: Svc) -> DeliveryOut:
    """Send the same event again (same event id) with a fresh retry window."""
    return DeliveryOut.model_validate(svc.webhooks.redeliver(actor, webhook_id, delivery_id))

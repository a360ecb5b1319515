"""Webhooks (tenant admins): subscriptions, secret rotation, delivery log, redelivery, ping."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from forgeml.api.deps import CurrentActor, Paging, Svc, resources
from forgeml.api.errors import responses
from forgeml.api.notify_schemas import (
    DeliveryOut,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)
from forgeml.api.schemas import PageOut, page_of
from forgeml.domain.webhooks import DeliveryState
from forgeml.services.notify.webhooks import WebhookWithSecret

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
HOOK = resources(webhook_id="webhook")
DELIVERY = resources(webhook_id="webhook", delivery_id="webhook_delivery")


def _created(new: WebhookWithSecret) -> WebhookCreated:
    return WebhookCreated(**WebhookOut.model_validate(new.webhook).model_dump(), secret=new.secret)


@router.post(
    "",
    name="webhook.create",
    status_code=201,
    response_model=WebhookCreated,
    responses=responses(401, 403, 404, 422),
)
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


@router.get(
    "", name="webhook.list", response_model=PageOut[WebhookOut], responses=responses(401, 403, 422)
)
def list_webhooks(actor: CurrentActor, svc: Svc, page: Paging) -> PageOut[WebhookOut]:
    res = svc.webhooks.list(actor, cursor=page.cursor, limit=page.limit)
    return page_of(WebhookOut.model_validate, res)


@router.get(
    "/{webhook_id}",
    name="webhook.get",
    response_model=WebhookOut,
    responses=responses(401, 403, 404, 422),
    openapi_extra=HOOK,
)
def get_webhook(webhook_id: str, actor: CurrentActor, svc: Svc) -> WebhookOut:
    return WebhookOut.model_validate(svc.webhooks.get(actor, webhook_id))


@router.patch(
    "/{webhook_id}",
    name="webhook.update",
    response_model=WebhookOut,
    responses=responses(401, 403, 404, 422),
    openapi_extra=HOOK,
)
def update_webhook(
    webhook_id: str, body: WebhookUpdate, actor: CurrentActor, svc: Svc
) -> WebhookOut:
    """Change URL, filter, description, or enable/disable (enabling resets the failure streak)."""
    changes = body.model_dump(exclude_unset=True)
    return WebhookOut.model_validate(svc.webhooks.update(actor, webhook_id, changes))


@router.delete(
    "/{webhook_id}",
    name="webhook.delete",
    status_code=204,
    responses=responses(401, 403, 404, 422),
    openapi_extra=HOOK,
)
def delete_webhook(webhook_id: str, actor: CurrentActor, svc: Svc) -> Response:
    svc.webhooks.delete(actor, webhook_id)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    name="webhook.rotate_secret",
    response_model=WebhookCreated,
    responses=responses(401, 403, 404, 422),
    openapi_extra=HOOK,
)
def rotate_secret(webhook_id: str, actor: CurrentActor, svc: Svc) -> WebhookCreated:
    """Replace the signing secret at once; the new one is in this response only."""
    return _created(svc.webhooks.rotate_secret(actor, webhook_id))


@router.post(
    "/{webhook_id}/ping",
    name="webhook.ping",
    status_code=202,
    response_model=DeliveryOut,
    responses=responses(401, 403, 404, 422),
    openapi_extra=HOOK,
)
def ping_webhook(webhook_id: str, actor: CurrentActor, svc: Svc) -> DeliveryOut:
    """Queue a `webhook.ping` to this webhook only; follow it in the delivery log."""
    return DeliveryOut.model_validate(svc.webhooks.ping(actor, webhook_id))


@router.get(
    "/{webhook_id}/deliveries",
    name="webhook.deliveries",
    response_model=PageOut[DeliveryOut],
    responses=responses(401, 403, 404, 422),
    openapi_extra=HOOK,
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


@router.get(
    "/{webhook_id}/deliveries/{delivery_id}",
    name="webhook.delivery",
    response_model=DeliveryOut,
    responses=responses(401, 403, 404, 422),
    openapi_extra=DELIVERY,
)
def get_delivery(webhook_id: str, delivery_id: str, actor: CurrentActor, svc: Svc) -> DeliveryOut:
    return DeliveryOut.model_validate(svc.webhooks.delivery(actor, webhook_id, delivery_id))


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    name="webhook.redeliver",
    status_code=202,
    response_model=DeliveryOut,
    responses=responses(401, 403, 404, 409, 422),
    openapi_extra=DELIVERY,
)
def redeliver(webhook_id: str, delivery_id: str, actor: CurrentActor, svc: Svc) -> DeliveryOut:
    """Send the same event again (same event id) with a fresh retry window."""
    return DeliveryOut.model_validate(svc.webhooks.redeliver(actor, webhook_id, delivery_id))

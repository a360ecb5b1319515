"""Tenant settings: webhooks (create with the secret shown once, enable/disable, ping, delete,
recent deliveries) through the notifications feature's webhook service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from forgeml.domain.errors import ForgeError, InvalidInput
from forgeml.web.core import Ctx, Page, PortalRoute, field_errors, redirect, service

router = APIRouter(route_class=PortalRoute, prefix="/settings/webhooks")
EVENT_CHOICES = (
    "training_job.*",
    "training_job.completed",
    "training_job.failed",
    "dataset.version_committed",
    "quota.exceeded",
    "*",
)


def _page(
    ctx: Ctx, *, errors: dict[str, str] | None = None, secret: str | None = None, status: int = 200
) -> Response:
    hooks = ctx.svc.webhooks.list(ctx.actor, cursor=None, limit=100).items
    deliveries: dict[str, Any] = {}
    for hook in hooks:
        page = ctx.svc.webhooks.deliveries(ctx.actor, hook.id, state=None, cursor=None, limit=5)
        deliveries[hook.id] = page.items
    return ctx.render(
        "tenant/webhooks.html",
        status,
        hooks=hooks,
        deliveries=deliveries,
        errors=errors or {},
        secret=secret,
        choices=EVENT_CHOICES,
    )


@router.get("", name="portal.webhooks")
def webhooks(ctx: Page) -> Response:
    if service(ctx.svc, "webhooks") is None:
        return ctx.render("soon.html", area="Webhooks")
    return _page(ctx)


@router.post("", name="portal.webhook_create")
def webhook_create(ctx: Page) -> Response:
    assert ctx.form is not None
    events = [e for e in ctx.form.getlist("events") if isinstance(e, str) and e]
    if not events:
        return _page(ctx, errors={"events": "choose at least one event"}, status=422)
    try:
        created = ctx.svc.webhooks.create(
            ctx.actor,
            url=ctx.field("url"),
            events=events,
            description=ctx.field("description")[:500],
            enabled=True,
        )
    except InvalidInput as exc:
        errors = field_errors(exc) or {"url": exc.message}
        return _page(ctx, errors=errors, status=422)
    return _page(ctx, secret=created.secret)


@router.post("/{webhook_id}", name="portal.webhook_change")
def webhook_change(webhook_id: str, ctx: Page) -> Response:
    action = ctx.field("action")
    svc = ctx.svc.webhooks
    try:
        if action == "delete":
            svc.delete(ctx.actor, webhook_id)
            return redirect("/settings/webhooks", "Webhook deleted.")
        if action in ("enable", "disable"):
            svc.update(ctx.actor, webhook_id, {"enabled": action == "enable"})
            return redirect("/settings/webhooks", f"Webhook {action}d.")
        if action == "ping":
            svc.ping(ctx.actor, webhook_id)
            return redirect("/settings/webhooks", "Ping queued; see the deliveries below.")
        if action == "rotate":
            rotated = svc.rotate_secret(ctx.actor, webhook_id)
            return _page(ctx, secret=rotated.secret)
    except ForgeError as exc:
        if exc.code == "not_found":
            raise
        return redirect("/settings/webhooks", f"Not changed: {exc.message}", "bad")
    return redirect("/settings/webhooks", "Unknown action.", "bad")

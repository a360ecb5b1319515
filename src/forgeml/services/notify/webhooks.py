"""Webhook subscriptions (tenant admins): CRUD, secret rotation, delivery log, redelivery, ping.

Deliveries are made by the dispatcher (`notify/dispatch.py`); this service only writes rows,
so an API replica never makes outbound calls on a request's behalf.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from forgeml.config import WebhookSettings
from forgeml.db import events as events_db
from forgeml.db import webhooks as q
from forgeml.db.engine import Database
from forgeml.db.identity import get_tenant
from forgeml.db.pagination import Page
from forgeml.db.scope import Scope
from forgeml.db.types import utcnow
from forgeml.domain.authz import Perm, require
from forgeml.domain.errors import Conflict, InvalidInput, NotFound
from forgeml.domain.events import check_patterns
from forgeml.domain.ids import new_id
from forgeml.domain.webhooks import Delivery, DeliveryState, Webhook
from forgeml.services.identity.audit import Actor, record
from forgeml.services.notify.ssrf import AddressGuard


@dataclass(frozen=True)
class WebhookWithSecret:
    webhook: Webhook
    secret: str  # shown once: at creation and at rotation


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


class WebhookService:
    def __init__(self, db: Database, webhooks: WebhookSettings) -> None:
        self.db = db
        self.guard = AddressGuard(webhooks)

    def _load(self, actor: Actor, webhook_id: str) -> Webhook:
        """Load through the scope first (404 for foreign ids), then check the role (403)."""
        with self.db.read() as conn:
            hook = q.get_webhook(conn, Scope.of(actor.p), webhook_id)
        require(actor.p, Perm.WEBHOOKS_MANAGE)
        return hook

    def _tenant_for(self, actor: Actor, tenant_id: str | None) -> str:
        p = actor.p
        if not p.is_platform_admin:
            if tenant_id not in (None, p.tenant_id) or p.tenant_id is None:
                raise NotFound(f"tenant {tenant_id!r} not found")
            return p.tenant_id
        if tenant_id is None:
            raise InvalidInput.fields([{"loc": "tenant_id", "msg": "required for platform admins"}])
        return tenant_id

    def create(
        self,
        actor: Actor,
        *,
        url: str,
        events: list[str],
        description: str,
        enabled: bool,
        tenant_id: str | None = None,
    ) -> WebhookWithSecret:
        require(actor.p, Perm.WEBHOOKS_MANAGE)
        tenant = self._tenant_for(actor, tenant_id)
        patterns = check_patterns(events)
        self.guard.check(url)
        now, secret = utcnow(), new_secret()
        values = {
            "id": new_id("whk"),
            "tenant_id": tenant,
            "url": url,
            "events": patterns,
            "description": description,
            "secret": secret,
            "enabled": enabled,
            "failure_streak": 0,
            "disabled_reason": None,
            "created_at": now,
            "updated_at": now,
        }
        with self.db.write() as conn:
            get_tenant(conn, Scope.of(actor.p), tenant)
            hook = q.insert_webhook(conn, values)
            self._audit(conn, actor, "webhook.create", hook, {"events": patterns})
        return WebhookWithSecret(hook, secret)

    def get(self, actor: Actor, webhook_id: str) -> Webhook:
        return self._load(actor, webhook_id)

    def list(self, actor: Actor, *, cursor: str | None, limit: int) -> Page[Webhook]:
        require(actor.p, Perm.WEBHOOKS_MANAGE)
        with self.db.read() as conn:
            return q.list_webhooks(conn, Scope.of(actor.p), cursor=cursor, limit=limit)

    def update(self, actor: Actor, webhook_id: str, changes: dict[str, Any]) -> Webhook:
        self._load(actor, webhook_id)
        values: dict[str, Any] = {"updated_at": utcnow()}
        if changes.get("url") is not None:
            self.guard.check(changes["url"])
            values["url"] = changes["url"]
        if changes.get("events") is not None:
            values["events"] = check_patterns(changes["events"])
        if changes.get("description") is not None:
            values["description"] = changes["description"]
        if changes.get("enabled") is not None:
            values["enabled"] = bool(changes["enabled"])
            if values["enabled"]:  # a fresh start after the owner fixed the receiver
                values.update(failure_streak=0, disabled_reason=None)
        with self.db.write() as conn:
            hook = q.update_webhook(conn, Scope.of(actor.p), webhook_id, values)
            fields = sorted(k for k in changes if changes[k] is not None)
            self._audit(conn, actor, "webhook.update", hook, {"fields": fields})
        return hook

    def delete(self, actor: Actor, webhook_id: str) -> None:
        hook = self._load(actor, webhook_id)
        with self.db.write() as conn:
            q.delete_webhook(conn, Scope.of(actor.p), webhook_id)
            self._audit(conn, actor, "webhook.delete", hook)

    def rotate_secret(self, actor: Actor, webhook_id: str) -> WebhookWithSecret:
        self._load(actor, webhook_id)
        secret = new_secret()
        with self.db.write() as conn:
            values = {"secret": secret, "updated_at": utcnow()}
            hook = q.update_webhook(conn, Scope.of(actor.p), webhook_id, values)
            self._audit(conn, actor, "webhook.rotate_secret", hook)
        return WebhookWithSecret(hook, secret)

    def deliveries(
        self, actor: Actor, webhook_id: str, *, state: str | None, cursor: str | None, limit: int
    ) -> Page[Delivery]:
        self._load(actor, webhook_id)
        with self.db.read() as conn:
            return q.list_deliveries(
                conn, Scope.of(actor.p), webhook_id, state=state, cursor=cursor, limit=limit
            )

    def delivery(self, actor: Actor, webhook_id: str, delivery_id: str) -> Delivery:
        self._load(actor, webhook_id)
        with self.db.read() as conn:
            return q.get_delivery(conn, Scope.of(actor.p), webhook_id, delivery_id)

    def redeliver(self, actor: Actor, webhook_id: str, delivery_id: str) -> Delivery:
        """Send again (same event id) with a fresh retry window, whatever the last outcome."""
        hook = self._load(actor, webhook_id)
        scope = Scope.of(actor.p)
        with self.db.write() as conn:
            q.get_delivery(conn, scope, webhook_id, delivery_id)
            if not q.reset_delivery(conn, scope, delivery_id, utcnow()):
                raise Conflict("this delivery is being attempted right now; try again shortly")
            self._audit(conn, actor, "webhook.redeliver", hook, {"delivery_id": delivery_id})
            return q.get_delivery(conn, scope, webhook_id, delivery_id)

    def ping(self, actor: Actor, webhook_id: str) -> Delivery:
        """Queue a `webhook.ping` event for this webhook only (sent even if it is disabled)."""
        hook = self._load(actor, webhook_id)
        now = utcnow()
        with self.db.write() as conn:
            evt = events_db.emit(
                conn,
                "webhook.ping",
                tenant_id=hook.tenant_id,
                data={"webhook_id": hook.id, "message": "ping from ForgeML"},
                subject_type="webhook",
                subject_id=hook.id,
            )
            row = delivery_row(hook, evt.id, evt.type, now)
            q.insert_deliveries(conn, [row])
            self._audit(conn, actor, "webhook.ping", hook, {"event_id": evt.id})
            return q.get_delivery(conn, Scope.of(actor.p), hook.id, row["id"])

    def _audit(
        self,
        conn: Any,
        actor: Actor,
        action: str,
        hook: Webhook,
        details: dict[str, Any] | None = None,
    ) -> None:
        record(conn, actor, action, "webhook", hook.id, tenant_id=hook.tenant_id, details=details)


def delivery_row(hook: Webhook, event_id: str, event_type: str, now: Any) -> dict[str, Any]:
    return {
        "id": new_id("dlv"),
        "tenant_id": hook.tenant_id,
        "webhook_id": hook.id,
        "event_id": event_id,
        "event_type": event_type,
        "state": DeliveryState.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "window_start": now,
        "created_at": now,
    }

"""E-mail notifications: per-user preferences, which events mail whom, rendering, SMTP sending.

Mails are composed when the dispatcher fans an event out (rows in `email_outbox`, committed with
the cursor) and sent later by the same loop, so a crash never loses or doubles one.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, replace
from email.message import EmailMessage
from typing import Any

import jinja2
import structlog
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from forgeml.config import SmtpSettings
from forgeml.db import dispatch as dq
from forgeml.db.engine import Database
from forgeml.db.types import utcnow
from forgeml.domain.errors import InvalidInput
from forgeml.domain.events import Event, validate
from forgeml.domain.ids import new_id
from forgeml.domain.webhooks import DeliveryState, NotificationPrefs
from forgeml.services.identity.audit import Actor, record

log = structlog.get_logger("forgeml.notify")
_env = jinja2.Environment(
    loader=jinja2.PackageLoader("forgeml", "web/templates/email"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.ChainableUndefined,  # a payload missing a field must not stop fan-out
    keep_trailing_newline=True,
)
# event type -> (preference column or None for "tenant admins, always", template, verb)
_MAILS: dict[str, tuple[str | None, str, str]] = {
    "training_job.completed": ("email_on_job_completed", "job_finished", "completed"),
    "training_job.failed": ("email_on_job_failed", "job_finished", "failed"),
    "webhook.disabled": (None, "webhook_disabled", "disabled"),
    "budget.threshold_reached": (None, "budget_alert", "reached"),
}
_SUBJECTS = {
    "webhook_disabled": "[ForgeML] Webhook to {url_host} was disabled",
    "budget_alert": "[ForgeML] {threshold_percent} % of this month's compute budget used",
}


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str


class NotificationService:
    """Per-user preferences (`/me/notification-preferences`): everyone manages their own."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, actor: Actor) -> NotificationPrefs:
        with self.db.read() as conn:
            return dq.get_prefs(conn, actor.p.user_id)

    def update(self, actor: Actor, changes: dict[str, Any]) -> NotificationPrefs:
        with self.db.write() as conn:
            prefs = replace(dq.get_prefs(conn, actor.p.user_id), **changes)
            dq.put_prefs(conn, prefs, utcnow())
            record(
                conn,
                actor,
                "notification_prefs.update",
                "user",
                actor.p.user_id,
                details={k: bool(v) for k, v in changes.items()},
            )
        return prefs


class Mailer:
    def __init__(self, smtp: SmtpSettings, public_url: str) -> None:
        self.smtp = smtp
        self.public_url = public_url.rstrip("/")  # links in mails append "/..." paths

    @property
    def enabled(self) -> bool:
        return bool(self.smtp.host)

    def outbox_rows(self, conn: Connection, event: Event) -> list[dict[str, Any]]:
        """The mails an event causes (none while SMTP is not configured)."""
        spec = _MAILS.get(event.type)
        if not self.enabled or spec is None or event.tenant_id is None:
            return []
        pref, template, verb = spec
        people = (
            dq.opted_in_users(conn, event.tenant_id, pref)
            if pref
            else dq.tenant_admins(conn, event.tenant_id)
        )
        now = utcnow()
        rows = []
        for person in people:
            try:
                mail = self.compose(template, verb, event, person["name"])
            except Exception:  # one odd event must never block the fan-out of the rest
                log.exception("e-mail not composed", event_id=event.id, type=event.type)
                return []
            rows.append(
                {
                    "id": new_id("eml"),
                    "tenant_id": event.tenant_id,
                    "event_id": event.id,
                    "user_id": person["id"],
                    "to_address": person["email"],
                    "subject": mail.subject,
                    "text_body": mail.text,
                    "html_body": mail.html,
                    "state": DeliveryState.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "window_start": now,
                    "created_at": now,
                }
            )
        return rows

    def compose(self, template: str, verb: str, event: Event, name: str) -> Mail:
        try:  # fill the schema's defaults; an emitter's off-schema payload is used as it is
            data = validate(event.type, event.data)
        except (ValidationError, InvalidInput):
            data = event.data
        ctx = {
            "name": name,
            "verb": verb,
            "data": data,
            "job_url": f"{self.public_url}/jobs/{data.get('job_id', '')}",
            "prefs_url": f"{self.public_url}/api/v1/me/notification-preferences",
            "webhook_url": f"{self.public_url}/api/v1/webhooks/{data.get('webhook_id', '')}"
            "/deliveries",
            "usage_url": f"{self.public_url}/usage",
        }
        if template == "job_finished":
            subject = f"[ForgeML] Training job {data.get('job_name')} {verb}"
        else:
            subject = _SUBJECTS[template].format_map(data)
        return Mail(
            subject=subject,
            text=_env.get_template(f"{template}.txt").render(ctx),
            html=_env.get_template(f"{template}.html").render(ctx),
        )

    def send(self, to: str, subject: str, text: str, html: str) -> None:
        """One message with a plain-text and an HTML part; raises on any SMTP problem."""
        msg = EmailMessage()
        msg["From"] = self.smtp.from_
        msg["To"] = to
        msg["Subject"] = subject
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        assert self.smtp.host is not None
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout_s) as s:
            if self.smtp.starttls:
                s.starttls(context=ssl.create_default_context())
            if self.smtp.username:
                password = self.smtp.password.get_secret_value() if self.smtp.password else ""
                s.login(self.smtp.username, password)
            s.send_message(msg)

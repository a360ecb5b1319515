"""The dispatcher: fans new outbox events out to deliveries and e-mails, then sends due ones.

Fan-out reads events after the cursor and writes one delivery per matching subscription plus the
e-mails, and moves the cursor, all in one transaction. Sending claims one row under a lease,
makes the call outside any transaction, then records the outcome if it still holds the lease:
a dispatcher killed mid-call leaves the row to be retaken when the lease expires (at least once).
"""

from __future__ import annotations

import json
import secrets
import smtplib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, RowMapping

import forgeml
from forgeml.config import NotifySettings
from forgeml.db import dispatch as dq
from forgeml.db import events as events_db
from forgeml.db import webhooks as wq
from forgeml.db.engine import Database
from forgeml.db.scope import Scope
from forgeml.db.types import utcnow
from forgeml.domain.errors import InvalidInput
from forgeml.domain.events import envelope, matches
from forgeml.domain.webhooks import DeliveryState, Webhook, backoff_s, sign
from forgeml.services.notify.service import Mailer
from forgeml.services.notify.ssrf import AddressGuard
from forgeml.services.notify.webhooks import delivery_row

log = structlog.get_logger("forgeml.dispatch")
CURSOR = "notifications"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None
    duration_ms: int
    error: str | None
    response: str | None


class Dispatcher:
    def __init__(self, db: Database, settings: NotifySettings) -> None:
        self.db = db
        self.cfg = settings.webhooks
        self.smtp = settings.smtp
        self.guard = AddressGuard(self.cfg)
        self.mailer = Mailer(settings.smtp, settings.public_url)
        # trust_env=False: no proxy from the environment may reroute (or reveal) deliveries
        self.http = httpx.Client(
            follow_redirects=False, timeout=self.cfg.timeout_s, trust_env=False
        )

    def close(self) -> None:
        self.http.close()

    def run_once(self) -> bool:
        """Fan out one batch, then send up to a batch of due deliveries and e-mails."""
        busy = self.fan_out() > 0
        for send in (self.deliver_next, self.send_next_email):
            for _ in range(self.cfg.batch):
                if not send():
                    break
                busy = True
        return busy

    # --- fan-out ----------------------------------------------------------------------------

    def fan_out(self) -> int:
        """Turn the next batch of events into deliveries and e-mails; returns events consumed."""
        with self.db.read() as conn:  # idle: a read, never a write transaction
            if not dq.events_beyond(conn, CURSOR):
                return 0
        with self.db.write() as conn:
            now = utcnow()
            seq = dq.lock_cursor(conn, CURSOR, now)
            batch = events_db.after(conn, Scope.everything(), seq, limit=self.cfg.batch)
            if not batch:
                return 0
            hooks: dict[str, list[Webhook]] = {}
            rows, mails = [], []
            for event in batch:
                # pings are addressed to one webhook and get their delivery when requested
                if event.tenant_id and event.type != "webhook.ping":
                    if event.tenant_id not in hooks:
                        hooks[event.tenant_id] = wq.enabled_webhooks(conn, event.tenant_id)
                    rows += [
                        delivery_row(h, event.id, event.type, now)
                        for h in hooks[event.tenant_id]
                        if matches(h.events, event.type) and event.at >= h.created_at
                    ]
                mails += self.mailer.outbox_rows(conn, event)
            wq.insert_deliveries(conn, rows)
            dq.insert_emails(conn, mails)
            dq.advance_cursor(conn, CURSOR, batch[-1].seq, now)
        return len(batch)

    # --- webhooks ---------------------------------------------------------------------------

    def _claim(
        self, table: sa.Table, where: list[sa.ColumnElement[bool]]
    ) -> tuple[RowMapping, str] | None:
        token, now = secrets.token_hex(16), utcnow()
        lease = now + timedelta(seconds=self.cfg.lease_s)
        with self.db.read() as conn:  # idle: a read, never a write transaction
            if not dq.any_due(conn, table, now, where):
                return None
        with self.db.write() as conn:
            row = dq.claim(conn, table, now=now, lease_until=lease, token=token, where=where)
        return None if row is None else (row, token)

    def deliver_next(self) -> bool:
        claimed = self._claim(wq.deliveries, wq.deliverable())
        if claimed is None:
            return False
        row, token = claimed
        with self.db.read() as conn:
            target = wq.url_and_secret(conn, row["webhook_id"])
            event = dq.event_by_id(conn, row["event_id"])
        if target is None:
            return True  # deleted since the claim; its deliveries went with it
        url, secret = target
        if event is None:
            outcome = Outcome(False, None, 0, "the event no longer exists", None)
        else:
            outcome = self.attempt(url, secret, row["id"], envelope(event))
        with self.db.write() as conn:
            self._record(conn, row, token, outcome, url)
        return True

    def attempt(self, url: str, secret: str, delivery_id: str, env: dict[str, Any]) -> Outcome:
        """One HTTP POST of the envelope, signed; never raises for the receiver's faults."""
        body = json.dumps(env, separators=(",", ":")).encode()
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"ForgeML-Webhooks/{forgeml.__version__}",
            "X-ForgeML-Event": env["type"],
            "X-ForgeML-Event-Id": env["id"],
            "X-ForgeML-Delivery": delivery_id,
            "X-ForgeML-Timestamp": ts,
            "X-ForgeML-Signature": sign(secret, ts, body),
        }
        start = time.monotonic()
        status, text, error = None, None, None
        try:
            target = self.guard.check(url)  # again now: DNS may have changed since creation
            headers["Host"] = target.host_header
            ext = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
            with self.http.stream(
                "POST", target.url, content=body, headers=headers, extensions=ext
            ) as resp:
                status = resp.status_code
                text = self._excerpt(resp)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except InvalidInput as exc:
            error = f"refused: {exc.message}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
        ms = int((time.monotonic() - start) * 1000)
        return Outcome(error is None, status, ms, error, text)

    def _excerpt(self, resp: httpx.Response) -> str:
        limit, got = self.cfg.response_log_bytes, b""
        for chunk in resp.iter_bytes():
            got += chunk
            if len(got) >= limit:
                break
        return got[:limit].decode("utf-8", "replace")

    def _record(
        self, conn: Connection, row: RowMapping, token: str, out: Outcome, url: str
    ) -> None:
        now = utcnow()
        values: dict[str, Any] = {
            "last_attempt_at": now,
            "last_status_code": out.status,
            "last_duration_ms": out.duration_ms,
            "last_error": out.error,
            "last_response": out.response,
        }
        if out.ok:
            values.update(state=DeliveryState.DELIVERED.value, delivered_at=now)
        else:
            values.update(self._retry(row, now, self.cfg.retry_window_s, self.cfg.backoff_base_s))
        if not dq.finish(conn, wq.deliveries, row["id"], token, values):
            return  # our lease expired and another dispatcher owns the row now
        log.info("webhook attempt", delivery=row["id"], ok=out.ok, error=out.error)
        streak = wq.record_outcome(conn, row["webhook_id"], out.ok)
        if out.ok or streak < self.cfg.disable_after_failures:
            return
        reason = f"disabled after {streak} consecutive failed attempts"
        if wq.disable(conn, row["webhook_id"], reason, now):
            events_db.emit(
                conn,
                "webhook.disabled",
                tenant_id=row["tenant_id"],
                data={
                    "webhook_id": row["webhook_id"],
                    "url_host": urlsplit(url).hostname or "",
                    "failure_count": streak,
                    "last_error": out.error,
                },
                subject_type="webhook",
                subject_id=row["webhook_id"],
            )

    def _retry(
        self, row: RowMapping, now: datetime, window_s: float, base_s: float
    ) -> dict[str, Any]:
        """After a failed attempt: retry after the backoff, or give up past the window."""
        delay = backoff_s(row["attempts"], base_s, self.cfg.backoff_max_s)
        retry_at = now + timedelta(seconds=delay)
        if retry_at > row["window_start"] + timedelta(seconds=window_s):
            return {"state": DeliveryState.FAILED.value}
        return {"state": DeliveryState.PENDING.value, "next_attempt_at": retry_at}

    # --- e-mail -----------------------------------------------------------------------------

    def send_next_email(self) -> bool:
        if not self.mailer.enabled:
            return False
        claimed = self._claim(dq.email_outbox, [])
        if claimed is None:
            return False
        row, token = claimed
        error = None
        try:
            self.mailer.send(row["to_address"], row["subject"], row["text_body"], row["html_body"])
        except (smtplib.SMTPException, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
            log.warning("e-mail not sent", email=row["id"], error=error)
        now = utcnow()
        values: dict[str, Any] = {"last_error": error}
        if error is None:
            values.update(state=DeliveryState.DELIVERED.value, sent_at=now)
        else:
            values.update(self._retry(row, now, self.smtp.retry_window_s, self.smtp.backoff_base_s))
        with self.db.write() as conn:
            dq.finish(conn, dq.email_outbox, row["id"], token, values)
        return True

"""Budget alerts reach a tenant's admins by e-mail through the ordinary dispatcher (a real SMTP
server on loopback), as every outbox event does; other tenants get nothing."""

from __future__ import annotations

from forgeml.db import events
from forgeml.domain.events import validate
from tests.integration import test_email
from tests.support.notify import SmtpServer, parts
from tests.support.world import World

smtp = test_email.smtp
settings = test_email.settings


def test_budget_alert_mails_the_tenant_admins(world: World, smtp: SmtpServer) -> None:
    data = {"month": "2026-12", "threshold_percent": 100, "budget": 50.0, "used": 51.25,
            "hard_stop": True}  # fmt: skip
    with world.services.db.write() as conn:
        events.emit(
            conn, "budget.threshold_reached", tenant_id=world.a.id,
            data=validate("budget.threshold_reached", data),
        )  # fmt: skip
    test_email.run(world)
    (mail,) = smtp.mailbox.messages
    assert mail["X-Envelope-To"] == "tenant-admin@a.example.com"
    assert mail["Subject"] == "[ForgeML] 100 % of this month's compute budget used"
    body = parts(mail)
    assert (
        "51.25 of 50.00" in body["text/plain"]
        and "New training jobs are refused" in (body["text/plain"])
    )
    assert 'href="https://forgeml.example.com/usage"' in body["text/html"]

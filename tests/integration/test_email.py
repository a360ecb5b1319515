"""E-mail notifications through a real SMTP server (aiosmtpd) on loopback: preferences, both
body parts, the job link, tenant isolation, and nothing at all while SMTP is not configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from forgeml.config import NotifySettings, Settings
from forgeml.db.dispatch import email_outbox
from forgeml.db.engine import Database
from forgeml.services.notify.dispatch import Dispatcher
from tests.support.notify import SmtpServer, drain, job_finished, parts, smtp_server
from tests.support.world import World

PREFS = "/api/v1/me/notification-preferences"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    yield from smtp_server()


@pytest.fixture
def settings(tmp_path: Path, database: Database, smtp: SmtpServer) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database.url,
        storage_url="memory://test",
        public_url="https://forgeml.example.com/",
        smtp={"host": "127.0.0.1", "port": smtp.port, "starttls": False, "from": "ml@example.com"},
    )


def run(world: World) -> None:
    """Dispatcher passes until one finds nothing to do."""
    d = Dispatcher(world.services.db, NotifySettings.of(world.services.settings))
    try:
        while d.run_once():
            pass
    finally:
        d.close()


def opt_in(world: World, tenant: str, role: str, **prefs: bool) -> None:
    resp = world.client.put(PREFS, headers=world.tenants[tenant].h(role), json=prefs)
    assert resp.status_code == 200, resp.text


def test_preferences_default_off_and_update_partially(world: World) -> None:
    c = world.client
    assert c.get(PREFS, headers=world.a.h("viewer")).json() == {
        "email_on_job_completed": False,
        "email_on_job_failed": False,
    }
    opt_in(world, "a", "viewer", email_on_job_failed=True)
    got = c.put(PREFS, headers=world.a.h("viewer"), json={"email_on_job_completed": True}).json()
    assert got == {"email_on_job_completed": True, "email_on_job_failed": True}
    assert c.get(PREFS, headers=world.a.h("member")).json()["email_on_job_failed"] is False
    bad = c.put(PREFS, headers=world.a.h(), json={"email_on_weekly": True})
    assert bad.status_code == 422
    assert c.get(PREFS).status_code == 401


def test_completed_job_mails_opted_in_users_of_its_tenant_only(
    world: World, smtp: SmtpServer
) -> None:
    opt_in(world, "a", "member", email_on_job_completed=True)
    opt_in(world, "a", "viewer", email_on_job_failed=True)  # failures only
    opt_in(world, "b", "member", email_on_job_completed=True, email_on_job_failed=True)
    job_finished(world.services, world.a.id, job_id="job_a1")
    run(world)
    assert [m["X-Envelope-To"] for m in smtp.mailbox.messages] == ["member@a.example.com"]
    (mail,) = smtp.mailbox.messages
    assert mail["From"] == "ml@example.com" and "digits-run completed" in mail["Subject"]
    body = parts(mail)
    assert set(body) == {"text/plain", "text/html"}
    link = "https://forgeml.example.com/jobs/job_a1"
    assert link in body["text/plain"] and f'href="{link}"' in body["text/html"]
    assert "validation:accuracy" in body["text/plain"] and "<table>" in body["text/html"]
    run(world)  # nothing is sent twice
    assert len(smtp.mailbox.messages) == 1


def test_failed_job_mails_those_who_want_failures(world: World, smtp: SmtpServer) -> None:
    opt_in(world, "a", "viewer", email_on_job_failed=True)
    opt_in(world, "a", "member", email_on_job_completed=True)
    job_finished(world.services, world.a.id, "training_job.failed", job_id="job_f")
    job_finished(world.services, world.b.id, "training_job.failed", job_id="job_b")
    run(world)
    (mail,) = smtp.mailbox.messages
    assert mail["X-Envelope-To"] == "viewer@a.example.com"
    assert "AlgorithmError: exit 1" in parts(mail)["text/plain"]
    assert "job_b" not in str(mail)


def test_html_part_escapes_event_data(world: World, smtp: SmtpServer) -> None:
    opt_in(world, "a", "member", email_on_job_failed=True)
    from forgeml.db.events import emit

    data = {
        "job_id": "job_x",
        "job_name": "<script>alert(1)</script>",
        "status": "Failed",
        "failure_reason": "<b>boom</b>",
    }
    with world.services.db.write() as conn:
        emit(conn, "training_job.failed", tenant_id=world.a.id, data=data)
    run(world)
    html = parts(smtp.mailbox.messages[0])["text/html"]
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;boom" in html


def test_disabled_users_get_no_mail(world: World, smtp: SmtpServer) -> None:
    opt_in(world, "a", "member", email_on_job_completed=True)
    user_id = world.a.users["member"]["id"]
    resp = world.client.patch(
        f"/api/v1/users/{user_id}", headers=world.a.h(), json={"disabled": True}
    )
    assert resp.status_code == 200
    job_finished(world.services, world.a.id)
    run(world)
    assert smtp.mailbox.messages == []


def test_smtp_outage_is_retried_until_it_works(world: World, smtp: SmtpServer) -> None:
    opt_in(world, "a", "member", email_on_job_completed=True)
    job_finished(world.services, world.a.id)
    gen = smtp_server()
    server = next(gen)  # started, then stopped: the port is closed while we send
    port = server.port
    gen.close()
    down = world.services.settings.model_copy(
        update={
            "smtp": world.services.settings.smtp.model_copy(
                update={"port": port, "backoff_base_s": 0.05, "timeout_s": 2}
            )
        }
    )
    d = Dispatcher(world.services.db, NotifySettings.of(down))
    try:
        drain(d, lambda: _email_attempts(world) >= 2)
    finally:
        d.close()
    with world.services.db.read() as conn:
        row = conn.execute(sa.select(email_outbox)).mappings().one()
    assert row["state"] == "pending" and "ConnectionRefused" in row["last_error"]
    assert smtp.mailbox.messages == []
    up = world.services.settings.model_copy(
        update={"smtp": world.services.settings.smtp.model_copy(update={"backoff_base_s": 0.05})}
    )
    d = Dispatcher(world.services.db, NotifySettings.of(up))
    try:
        drain(d, lambda: len(smtp.mailbox.messages) == 1)
    finally:
        d.close()


def _email_attempts(world: World) -> int:
    with world.services.db.read() as conn:
        return int(conn.execute(sa.select(sa.func.sum(email_outbox.c.attempts))).scalar() or 0)


def test_nothing_is_queued_while_smtp_is_not_configured(world: World, smtp: SmtpServer) -> None:
    opt_in(world, "a", "member", email_on_job_completed=True)
    job_finished(world.services, world.a.id)
    off = world.services.settings.model_copy(
        update={"smtp": world.services.settings.smtp.model_copy(update={"host": None})}
    )
    d = Dispatcher(world.services.db, NotifySettings.of(off))
    d.run_once()
    d.close()
    with world.services.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(email_outbox)).scalar() == 0
    assert smtp.mailbox.messages == []

"""Webhooks end to end on loopback: fan-out, signatures, retries, failure window, auto-disable,
redelivery, ping, concurrent dispatchers, SSRF refusals; every test on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeml.config import NotifySettings, Settings, WebhookSettings
from forgeml.db.engine import Database
from forgeml.domain.errors import InvalidInput
from forgeml.services.notify.dispatch import Dispatcher
from forgeml.services.notify.ssrf import AddressGuard
from tests.support.notify import (
    Receiver,
    SmtpServer,
    attempts,
    dataset_committed,
    deliveries,
    drain,
    free_port,
    hook,
    job_finished,
    parts,
    smtp_server,
    state,
    verify,
)
from tests.support.threads import CheckedThread, join_all
from tests.support.world import World

FAST = {
    "allow_hosts": ["127.0.0.1"],
    "backoff_base_s": 0.05,
    "backoff_max_s": 0.2,
    "retry_window_s": 30,
    "timeout_s": 2,
    "lease_s": 3,
    "response_log_bytes": 100,
}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    yield from smtp_server()


@pytest.fixture
def settings(tmp_path: Path, database: Database, smtp: SmtpServer) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database.url,
        storage_url="memory://test",
        public_url="https://forgeml.example.com",
        webhooks=FAST,
        smtp={"host": "127.0.0.1", "port": smtp.port, "starttls": False},
    )


@pytest.fixture
def dispatcher(world: World) -> Iterator[Dispatcher]:
    d = Dispatcher(world.services.db, NotifySettings.of(world.services.settings))
    yield d
    d.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def with_webhooks(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"webhooks": settings.webhooks.model_copy(update=changes)})


def test_completed_job_yields_one_signed_delivery_per_matching_subscription(
    world: World, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    other = Receiver().start()
    try:
        all_jobs = hook(world, receiver.url, ["training_job.*"])
        completed = hook(world, receiver.url, ["training_job.completed"])
        datasets_only = hook(world, other.url, ["dataset.*"])
        b_hook = hook(world, other.url, ["*"], tenant="b")
        event = job_finished(world.services, world.a.id)
        drain(dispatcher, lambda: len(receiver.got) == 2)
        dispatcher.run_once()
        dispatcher.fan_out()  # idempotent: nothing new is created for the same events
    finally:
        other.stop()
    assert other.got == []  # neither the non-matching subscription nor tenant B got anything
    secrets = {all_jobs["id"]: all_jobs["secret"], completed["id"]: completed["secret"]}
    by_delivery = {}
    for hook_id, secret in secrets.items():
        (d,) = deliveries(world, hook_id)
        assert d["state"] == "delivered" and d["attempts"] == 1 and d["last_status_code"] == 200
        assert d["last_duration_ms"] is not None and d["event_id"] == event.id
        by_delivery[d["id"]] = secret
    for r in receiver.got:
        assert verify(by_delivery[r.headers["x-forgeml-delivery"]], r)
        assert r.headers["x-forgeml-event"] == "training_job.completed"
        assert r.headers["x-forgeml-event-id"] == event.id
        env = r.envelope
        assert env["id"] == event.id and env["tenant_id"] == world.a.id and env["version"] == 1
        assert env["data"]["job_id"] == "job_1" and env["time"].endswith("Z")
    assert deliveries(world, datasets_only["id"]) == []
    assert deliveries(world, b_hook["id"], tenant="b") == []


def test_a_wrong_secret_does_not_verify(
    world: World, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    h = hook(world, receiver.url, ["*"])
    dataset_committed(world.services, world.a.id)
    drain(dispatcher, lambda: len(receiver.got) == 1)
    assert verify(h["secret"], receiver.got[0])
    assert not verify(h["secret"] + "x", receiver.got[0])


def test_receiver_failing_three_times_gets_the_event_on_the_fourth_try(
    world: World, dispatcher: Dispatcher
) -> None:
    flaky = Receiver(statuses=[500, 502, 503]).start()
    try:
        h = hook(world, flaky.url, ["training_job.*"])
        event = job_finished(world.services, world.a.id)
        drain(dispatcher, lambda: state(world, h["id"]) == "delivered")
    finally:
        flaky.stop()
    (d,) = deliveries(world, h["id"])
    assert d["attempts"] == 4 and d["last_status_code"] == 200 and d["last_error"] is None
    assert len(flaky.got) == 4
    assert {r.headers["x-forgeml-event-id"] for r in flaky.got} == {event.id}
    assert all(verify(h["secret"], r) for r in flaky.got)


def test_receiver_down_for_the_whole_window_ends_failed(world: World) -> None:
    h = hook(world, f"http://127.0.0.1:{free_port()}/gone", ["*"])  # nothing listens there
    d = Dispatcher(
        world.services.db,
        NotifySettings.of(with_webhooks(world.services.settings, retry_window_s=0.4)),
    )
    try:
        dataset_committed(world.services, world.a.id)
        drain(d, lambda: state(world, h["id"]) == "failed")
    finally:
        d.close()
    (row,) = deliveries(world, h["id"])
    assert row["attempts"] >= 2 and "ConnectError" in row["last_error"]
    assert row["last_status_code"] is None and row["delivered_at"] is None


def test_error_responses_are_logged_truncated(world: World, dispatcher: Dispatcher) -> None:
    failing = Receiver(statuses=[500] * 100).start()
    d = Dispatcher(
        world.services.db,
        NotifySettings.of(with_webhooks(world.services.settings, retry_window_s=0.3)),
    )
    try:
        h = hook(world, failing.url, ["*"])
        dataset_committed(world.services, world.a.id)
        drain(d, lambda: state(world, h["id"]) == "failed")
    finally:
        d.close()
        failing.stop()
    (row,) = deliveries(world, h["id"])
    assert row["last_status_code"] == 500 and row["last_error"] == "HTTP 500"
    assert row["last_response"] == "x" * 100  # response_log_bytes


def test_long_failure_streak_disables_the_webhook_notifies_and_mails_admins(
    world: World, receiver: Receiver, smtp: SmtpServer
) -> None:
    failing = Receiver(statuses=[500] * 100).start()
    settings = with_webhooks(world.services.settings, disable_after_failures=3)
    d = Dispatcher(world.services.db, NotifySettings.of(settings))
    try:
        bad = hook(world, failing.url, ["dataset.*"])
        watcher = hook(world, receiver.url, ["webhook.*"])
        hook(world, receiver.url, ["*"], tenant="b")
        dataset_committed(world.services, world.a.id)
        drain(d, lambda: any(r.envelope["type"] == "webhook.disabled" for r in receiver.got))
        drain(d, lambda: len(smtp.mailbox.messages) >= 1)
        d.run_once()
    finally:
        d.close()
        failing.stop()
    assert len(failing.got) == 3
    got = world.client.get(f"/api/v1/webhooks/{bad['id']}", headers=world.a.h()).json()
    assert got["enabled"] is False and "3 consecutive" in got["disabled_reason"]
    (notice,) = [r for r in receiver.got if r.envelope["type"] == "webhook.disabled"]
    assert verify(watcher["secret"], notice)
    assert notice.envelope["tenant_id"] == world.a.id
    assert notice.envelope["data"]["webhook_id"] == bad["id"]
    assert notice.envelope["data"]["url_host"] == "127.0.0.1"  # never the full URL
    # the tenant admins of A get an e-mail; nobody of tenant B hears of it on any channel
    (mail,) = smtp.mailbox.messages
    assert mail["X-Envelope-To"] == "tenant-admin@a.example.com"
    assert bad["id"] in parts(mail)["text/plain"] and bad["id"] in parts(mail)["text/html"]
    assert all(r.envelope["tenant_id"] == world.a.id for r in receiver.got)
    # a disabled webhook gets nothing more until it is enabled again, which resets the streak
    dataset_committed(world.services, world.a.id)
    d2 = Dispatcher(world.services.db, NotifySettings.of(settings))
    d2.run_once()
    d2.close()
    assert len(failing.got) == 3
    again = world.client.patch(
        f"/api/v1/webhooks/{bad['id']}", headers=world.a.h(), json={"enabled": True}
    ).json()
    assert again["enabled"] and again["failure_streak"] == 0 and again["disabled_reason"] is None


def test_redeliver_sends_the_same_event_again(
    world: World, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    h = hook(world, receiver.url, ["*"])
    event = job_finished(world.services, world.a.id)
    drain(dispatcher, lambda: len(receiver.got) == 1)
    (d,) = deliveries(world, h["id"])
    url = f"/api/v1/webhooks/{h['id']}/deliveries/{d['id']}"
    resp = world.client.post(f"{url}/redeliver", headers=world.a.h())
    assert resp.status_code == 202 and resp.json()["state"] == "pending"
    drain(dispatcher, lambda: len(receiver.got) == 2)
    assert [r.headers["x-forgeml-event-id"] for r in receiver.got] == [event.id, event.id]
    assert [r.headers["x-forgeml-delivery"] for r in receiver.got] == [d["id"], d["id"]]
    shown = world.client.get(url, headers=world.a.h()).json()
    assert shown["attempts"] == 2 and shown["state"] == "delivered"
    for role in ("member", "viewer"):
        assert world.client.post(f"{url}/redeliver", headers=world.a.h(role)).status_code == 403


def test_ping_reaches_only_that_webhook(
    world: World, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    other = Receiver().start()
    try:
        h = hook(world, receiver.url, ["dataset.*"])
        hook(world, other.url, ["*"])
        resp = world.client.post(f"/api/v1/webhooks/{h['id']}/ping", headers=world.a.h())
        assert resp.status_code == 202, resp.text
        drain(dispatcher, lambda: len(receiver.got) == 1)
        dispatcher.run_once()
    finally:
        other.stop()
    assert receiver.got[0].envelope["type"] == "webhook.ping"
    assert receiver.got[0].envelope["data"]["webhook_id"] == h["id"]
    assert verify(h["secret"], receiver.got[0])
    assert other.got == []


def test_secret_is_shown_once_and_rotation_changes_the_signing_key(
    world: World, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    h = hook(world, receiver.url, ["*"])
    base = f"/api/v1/webhooks/{h['id']}"
    assert h["secret"].startswith("whsec_")
    assert "secret" not in world.client.get(base, headers=world.a.h()).json()
    listed = world.client.get("/api/v1/webhooks", headers=world.a.h()).json()["items"]
    assert [w["id"] for w in listed] == [h["id"]] and "secret" not in listed[0]
    rotated = world.client.post(f"{base}/rotate-secret", headers=world.a.h()).json()
    assert rotated["secret"] != h["secret"]
    dataset_committed(world.services, world.a.id)
    drain(dispatcher, lambda: len(receiver.got) == 1)
    assert verify(rotated["secret"], receiver.got[0])
    assert not verify(h["secret"], receiver.got[0])


def test_concurrent_dispatchers_deliver_each_event_exactly_once(
    world: World, receiver: Receiver
) -> None:
    h = hook(world, receiver.url, ["*"])
    for _ in range(12):
        dataset_committed(world.services, world.a.id)
    pool = [
        Dispatcher(world.services.db, NotifySettings.of(world.services.settings)) for _ in range(3)
    ]
    stop = threading.Event()

    def work(d: Dispatcher) -> None:
        while not stop.is_set():
            if not d.run_once():
                stop.wait(0.02)

    threads = [CheckedThread(target=work, args=(d,)) for d in pool]
    for t in threads:
        t.start()
    try:
        drain(pool[0], lambda: len(receiver.got) >= 12)
    finally:
        stop.set()
        try:
            join_all(threads, 10)
        finally:
            for d in pool:
                d.close()
    ids = [r.headers["x-forgeml-event-id"] for r in receiver.got]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert all(d["attempts"] == 1 for d in deliveries(world, h["id"]))


def test_crud_roles_and_validation(world: World, receiver: Receiver) -> None:
    c = world.client
    body = {"url": receiver.url, "events": ["training_job.*"], "description": "ci"}
    for role in ("member", "viewer"):
        assert c.post("/api/v1/webhooks", headers=world.a.h(role), json=body).status_code == 403
        assert c.get("/api/v1/webhooks", headers=world.a.h(role)).status_code == 403
    bad = c.post(
        "/api/v1/webhooks",
        headers=world.a.h(),
        json={"url": receiver.url, "events": ["nope", "training_job.*", "jobs.*"]},
    )
    assert bad.status_code == 422
    assert {e["loc"] for e in bad.json()["error"]["details"]["errors"]} == {"events.0", "events.2"}
    assert (
        c.post("/api/v1/webhooks", headers=world.a.h(), json={**body, "secret": "mine"}).status_code
        == 422
    )
    h = hook(world, receiver.url, ["training_job.*"])
    url = f"/api/v1/webhooks/{h['id']}"
    upd = c.patch(url, headers=world.a.h(), json={"events": ["*"], "enabled": False})
    assert upd.status_code == 200 and upd.json()["events"] == ["*"] and not upd.json()["enabled"]
    assert c.patch(url, headers=world.a.h(), json={"url": "http://10.1.2.3/"}).status_code == 422
    # platform admins manage any tenant's webhooks, naming the tenant
    admin = c.post("/api/v1/webhooks", headers=world.admin, json=body)
    assert admin.status_code == 422
    admin = c.post("/api/v1/webhooks", headers=world.admin, json={**body, "tenant_id": world.b.id})
    assert admin.status_code == 201 and admin.json()["tenant_id"] == world.b.id
    # a tenant admin cannot create one in another tenant
    steal = c.post("/api/v1/webhooks", headers=world.a.h(), json={**body, "tenant_id": world.b.id})
    assert steal.status_code == 404
    assert c.delete(url, headers=world.a.h()).status_code == 204
    assert c.get(url, headers=world.a.h()).status_code == 404
    actions = {
        e["action"]
        for e in c.get("/api/v1/audit?action=webhook.*", headers=world.a.h()).json()["items"]
    }
    assert {"webhook.create", "webhook.update", "webhook.delete"} <= actions


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::1]:8080/",
        "http://127.0.0.2/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",
        "http://[::ffff:10.0.0.1]/",
        "ftp://93.184.215.14/",
        "http://user:pw@93.184.215.14/",
        "not a url",
    ],
)
def test_private_and_odd_urls_are_refused_at_creation(world: World, url: str) -> None:
    resp = world.client.post(
        "/api/v1/webhooks", headers=world.a.h(), json={"url": url, "events": ["*"]}
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["details"]["errors"][0]["loc"] == "url"


def test_loopback_is_refused_unless_allowlisted() -> None:
    with pytest.raises(InvalidInput, match="loopback"):
        AddressGuard(WebhookSettings()).check("http://127.0.0.1:8080/hook")
    with pytest.raises(InvalidInput, match=r"localhost resolves to \S+, which is loopback"):
        AddressGuard(WebhookSettings()).check("http://localhost:8080/hook")
    with pytest.raises(InvalidInput, match="cloud metadata"):
        AddressGuard(WebhookSettings(allow_hosts=["10.0.0.0/8"])).check("http://169.254.169.254/")
    assert AddressGuard(WebhookSettings(allow_hosts=["10.0.0.0/8"])).check("http://10.2.3.4/x")
    target = AddressGuard(WebhookSettings(allow_hosts=["localhost"])).check("http://localhost:81/")
    assert target.host_header == "localhost:81" and "localhost" not in target.url
    public = AddressGuard(WebhookSettings()).check("https://93.184.215.14/p?q=1")
    assert public.url == "https://93.184.215.14/p?q=1" and public.sni_hostname == "93.184.215.14"


def test_delivery_rechecks_the_address_at_send_time(world: World, receiver: Receiver) -> None:
    """The address passed at creation but no longer does (rebinding, allowlist change)."""
    h = hook(world, receiver.url, ["*"])
    strict = Dispatcher(
        world.services.db, NotifySettings.of(with_webhooks(world.services.settings, allow_hosts=[]))
    )
    try:
        dataset_committed(world.services, world.a.id)
        drain(strict, lambda: attempts(world, h["id"]) >= 1)
    finally:
        strict.close()
    (d,) = deliveries(world, h["id"])
    assert d["last_error"].startswith("refused:") and "loopback" in d["last_error"]
    assert receiver.got == []

"""Test helpers for events and notifications: a real webhook receiver and SMTP server on
loopback, a live uvicorn server (for SSE), event emitters and a dispatcher driver."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI

from forgeml.config import NotifySettings
from forgeml.db.events import emit
from forgeml.domain.events import Event, validate
from forgeml.services.container import Services
from forgeml.services.notify.dispatch import Dispatcher
from tests.support.threads import CheckedThread
from tests.support.world import World


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], bool], timeout: float = 20.0, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(step)


# --- webhook receiver -----------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def envelope(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


def verify(secret: str, r: Received) -> bool:
    """What a customer's receiver does (docs/webhooks.md)."""
    ts, sig = r.headers["x-forgeml-timestamp"], r.headers["x-forgeml-signature"]
    mac = hmac.new(secret.encode(), ts.encode() + b"." + r.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(sig, f"sha256={mac}") and abs(time.time() - int(ts)) < 300


@dataclass
class Receiver:
    """An HTTP server in a thread; `statuses` answers the n-th request (default 200)."""

    statuses: list[int] = field(default_factory=list)
    block: threading.Event | None = None  # set: requests wait until it is set
    got: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                rec = Received({k.lower(): v for k, v in self.headers.items()}, body)
                outer.got.append(rec)
                outer.arrived.set()
                n = len(outer.got)
                if outer.block is not None:
                    outer.block.wait(30)
                status = outer.statuses[n - 1] if n <= len(outer.statuses) else 200
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.end_headers()
                self.wfile.write(b"x" * 5000 if status >= 500 else b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


# --- SMTP -----------------------------------------------------------------------------------


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content)
        msg["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in m["X-Envelope-To"]]


def parts(msg: Message) -> dict[str, str]:
    out = {}
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out[part.get_content_type()] = payload.decode()
    return out


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox


def smtp_server() -> Iterator[SmtpServer]:
    box = Mailbox()
    port = free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield SmtpServer(port, box)
    finally:
        ctl.stop()


# --- live API server (SSE needs a real socket) ------------------------------------------------


def live_server(app: FastAPI) -> Iterator[str]:
    port = free_port()
    cfg = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(cfg)
    t = CheckedThread(target=server.run, daemon=True)
    t.start()
    wait_for(lambda: server.started)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(10)


# --- events and the dispatcher --------------------------------------------------------------


def job_finished(
    services: Services, tenant_id: str, type_: str = "training_job.completed", job_id: str = "job_1"
) -> Event:
    """The event the training-jobs feature emits when a job ends (shape from the catalogue)."""
    status = {"training_job.completed": "Completed", "training_job.failed": "Failed"}
    data = validate(
        type_,
        {
            "job_id": job_id,
            "job_name": "digits-run",
            "status": status.get(type_, "Stopped"),
            "failure_reason": "AlgorithmError: exit 1" if type_.endswith("failed") else None,
            "artifacts": {"model": f"tenants/{tenant_id}/jobs/{job_id}/model.tar.gz"},
            "billable_seconds": 42,
            "final_metrics": {"validation:accuracy": 0.97},
        },
    )
    with services.db.write() as conn:
        return emit(
            conn,
            type_,
            tenant_id=tenant_id,
            data=data,
            subject_type="training_job",
            subject_id=job_id,
        )


def dataset_committed(services: Services, tenant_id: str) -> Event:
    data = {"dataset_id": "dst_1", "dataset_name": "digits", "version": 1}
    with services.db.write() as conn:
        return emit(conn, "dataset.version_committed", tenant_id=tenant_id, data=data)


def drain(d: Dispatcher, until: Callable[[], bool], timeout: float = 20.0) -> None:
    """Run dispatcher passes until `until()` holds (retries become due as time passes)."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError("dispatcher did not reach the expected state in time")
        if not d.run_once():
            time.sleep(0.02)


def hook(world: World, url: str, events: list[str], tenant: str = "a") -> dict[str, Any]:
    resp = world.client.post(
        "/api/v1/webhooks", headers=world.tenants[tenant].h(), json={"url": url, "events": events}
    )
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()
    return data


def deliveries(world: World, hook_id: str, tenant: str = "a") -> list[dict[str, Any]]:
    resp = world.client.get(
        f"/api/v1/webhooks/{hook_id}/deliveries", headers=world.tenants[tenant].h()
    )
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


def state(world: World, hook_id: str) -> str | None:
    """State of the webhook's newest delivery (None before fan-out created one)."""
    items = deliveries(world, hook_id)
    return str(items[0]["state"]) if items else None


def attempts(world: World, hook_id: str) -> int:
    items = deliveries(world, hook_id)
    return int(items[0]["attempts"]) if items else 0


def b_webhook(world: World) -> tuple[str, str]:
    """Tenant B's webhook and one of its deliveries (cross-tenant route test), built once."""
    cached: tuple[str, str] | None = world.__dict__.get("_b_webhook")
    if cached is None:
        h = hook(world, "http://93.184.215.14/hook", ["*"], tenant="b")  # public; never called
        dataset_committed(world.services, world.b.id)
        d = Dispatcher(world.services.db, NotifySettings.of(world.services.settings))
        d.fan_out()
        d.close()
        cached = (h["id"], deliveries(world, h["id"], "b")[0]["id"])
        world.__dict__["_b_webhook"] = cached
    return cached

"""Pure ASGI middleware: request ids, body-size limit, access log, HTTP metrics, audit safety net.

Pure ASGI (not BaseHTTPMiddleware) so streamed uploads and server-sent events pass untouched.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forgeml.api.metrics import Metrics
from forgeml.edge.drain import Drain

log = structlog.get_logger("forgeml.http")
_RID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
SHUTDOWN_RETRY_AFTER_S = 1  # another replica (or this one restarted) takes the retry


class TooLarge(Exception):
    pass


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        unlimited: list[re.Pattern[str]],
        metrics: Metrics,
        audit_fallback: Callable[[Scope, int], None],
        drain: Drain,
    ) -> None:
        self.app = app
        self.drain = drain
        self.max_body = max_body
        self.unlimited = unlimited
        self.metrics = metrics
        self.audit_fallback = audit_fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        rid = headers.get("x-request-id", "")
        rid = rid if _RID_RE.match(rid) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        limited = not any(p.match(scope["path"]) for p in self.unlimited)
        start = time.perf_counter()
        status_holder = [500]

        if limited and int(headers.get("content-length", "0") or 0) > self.max_body:
            await self._too_large(send, rid)
            status_holder[0] = 413
            self._finish(scope, rid, 413, start)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            msg = await receive()
            if limited and msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.max_body:
                    raise TooLarge()
            return msg

        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                status_holder[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
                if self.drain.draining:  # keep-alive clients reconnect, to another replica
                    message["headers"].append((b"connection", b"close"))
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=rid):
            try:
                await self.app(scope, limited_receive, send_wrapper)
            except TooLarge:
                status_holder[0] = 413
                if not started:
                    await self._too_large(send, rid)
            except Exception:
                # Rendered here, not by Starlette's outermost handler, so a 500 still gets its
                # request id, access-log line, metric sample and audit row.
                log.exception("unhandled error", method=scope["method"], path=scope["path"])
                status_holder[0] = 500
                if not started:
                    await _send_json(send, rid, 500, _internal_error(rid))
            except asyncio.CancelledError:
                if not self.drain.closing:
                    raise
                # The shutdown grace ran out: a clean 503 instead of uvicorn's plain-text 500;
                # an upload cut here committed nothing and its session resumes after restart.
                log.warning("request cut by shutdown", method=scope["method"], path=scope["path"])
                status_holder[0] = 503
                if not started:
                    await _send_json(send, rid, 503, _shutting_down(), close=True)
            self._finish(scope, rid, status_holder[0], start)

    async def _too_large(self, send: Send, rid: str) -> None:
        body = {
            "error": {
                "code": "payload_too_large",
                "message": f"request body over {self.max_body} bytes",
                "details": {"limit": self.max_body},
            }
        }
        await _send_json(send, rid, 413, body)

    def _finish(self, scope: Scope, rid: str, status: int, start: float) -> None:
        elapsed = time.perf_counter() - start
        template = route_template(scope)
        self.metrics.observe_request(scope["method"], template, status, elapsed)
        if scope["method"] in MUTATING and scope["path"].startswith("/api/"):
            try:
                self.audit_fallback(scope, status)
            except Exception:  # auditing must never turn a response into a crash
                log.exception("audit fallback failed")
        log.info(
            "request",
            method=scope["method"],
            path=scope["path"],
            status=status,
            duration_ms=round(elapsed * 1000, 1),
        )


def route_template(scope: Scope) -> str:
    """The matched path with parameter values put back as `{name}` (bounded metric labels)."""
    if scope.get("route") is None:
        return "unmatched"
    path: str = scope["path"]
    for name, value in (scope.get("path_params") or {}).items():
        path = path.replace(f"/{value}", f"/{{{name}}}", 1)
    return path


def _internal_error(rid: str) -> dict[str, Any]:
    return {
        "error": {
            "code": "internal_error",
            "message": "internal error; quote the request id",
            "details": {"request_id": rid},
        }
    }


def _shutting_down() -> dict[str, Any]:
    return {
        "error": {
            "code": "unavailable",
            "message": "the server is shutting down; retry (an upload resumes where it stopped)",
            "details": {"retry_after_s": SHUTDOWN_RETRY_AFTER_S},
        }
    }


async def _send_json(
    send: Send, rid: str, status: int, body: dict[str, Any], *, close: bool = False
) -> None:
    headers = [(b"content-type", b"application/json"), (b"x-request-id", rid.encode())]
    if close:
        retry_after = str(SHUTDOWN_RETRY_AFTER_S).encode()
        headers += [(b"retry-after", retry_after), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})

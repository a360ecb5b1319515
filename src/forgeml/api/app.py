"""Builds the FastAPI application (JSON API under /api/v1, ops endpoints, portal) for one plane.

`plane` is "public" or "admin": with `admin_listen` configured, two apps run and the public
one refuses platform-admin principals (see `api/deps.py`).
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import forgeml
from forgeml.api import errors
from forgeml.api.docs import docs_router
from forgeml.api.metrics import Metrics, scheduler_metrics
from forgeml.api.middleware import RequestContextMiddleware
from forgeml.api.routes import (
    algorithms,
    audit,
    auth,
    checkpoints,
    dataset_uploads,
    datasets,
    events,
    jobs,
    notifications,
    ops,
    platform_datasets,
    scheduling,
    tenants,
    tokens,
    usage,
    users,
    webhooks,
)
from forgeml.api.routing import add_flat
from forgeml.edge.drain import Drain
from forgeml.services.container import Services
from forgeml.services.identity.audit import Actor

API_PREFIX = "/api/v1"
_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for module in (auth, tenants, users, tokens, audit, algorithms):
        router.include_router(module.router)
    for module in (datasets, dataset_uploads, platform_datasets):
        router.include_router(module.router)
    for module in (webhooks, events, notifications):
        router.include_router(module.router)
    for module in (jobs, scheduling, checkpoints, usage):
        router.include_router(module.router)
    return router


class SecurityHeaders:
    """Adds security headers to every response (CSP without inline script, no framing)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                ]
                if not scope["path"].startswith(f"{API_PREFIX}/docs"):
                    extra.append((b"content-security-policy", _CSP.encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_wrapper)


def _audit_fallback(services: Services) -> Any:
    """Records mutating calls that no service audited itself: refusals, validation errors."""

    def fallback(scope: MutableMapping[str, Any], status: int) -> None:
        state = scope.get("state", {})
        actor: Actor | None = state.get("actor")
        if actor is not None and actor.audited:
            return
        if actor is None:
            client = scope.get("client")
            actor = Actor(
                principal=None,
                source_ip=client[0] if client else None,
                request_id=state.get("request_id"),
            )
        route = scope.get("route")
        action = getattr(route, "name", None) or "unmatched"
        outcome = (
            "success" if status < 400 else ("denied" if status in (401, 403, 404) else "failure")
        )
        params = scope.get("path_params") or {}
        target = next(iter(params.values()), None)
        services.audit.record_standalone(
            actor,
            action,
            target_id=str(target) if target else None,
            outcome=outcome,
            details=_fallback_details(scope, status),
        )

    return fallback


def _fallback_details(scope: MutableMapping[str, Any], status: int) -> dict[str, Any]:
    details: dict[str, Any] = {"status": status, "method": scope["method"], "path": scope["path"]}
    reason = scope.get("state", {}).get("error_reason")  # left by api/errors.py's handlers
    if status >= 400 and reason:
        details["reason"] = reason
    return details


def create_app(
    services: Services,
    *,
    plane: str = "public",
    extra_routers: list[APIRouter] | None = None,
    unlimited_body: list[str] | None = None,
    drain: Drain | None = None,
) -> FastAPI:
    app = FastAPI(
        title="ForgeML",
        version=forgeml.__version__,
        description="Multi-tenant ML training platform (SageMaker-compatible training jobs).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served by api/docs.py from local assets
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,  # operationIds like "user.get"
    )
    app.state.services = services
    app.state.plane = plane
    app.state.drain = drain = drain or Drain()  # one per process: every plane drains together
    metrics = Metrics()
    metrics.add_collector(scheduler_metrics(services.scheduling))
    metrics.add_registry(services.scheduling.stats_registry())
    app.state.metrics = metrics
    errors.install(app)
    app.include_router(ops.router)
    app.include_router(docs_router(API_PREFIX))
    add_flat(app.router, api_router())  # the API's routes are matched once per request
    for router in extra_routers or []:
        app.include_router(router)
    app.add_middleware(
        RequestContextMiddleware,
        max_body=services.settings.max_body_bytes,
        unlimited=[re.compile(p) for p in (unlimited_body or [])],
        metrics=metrics,
        audit_fallback=_audit_fallback(services),
        drain=drain,
    )
    app.add_middleware(SecurityHeaders)
    trusted = services.settings.server.trusted_proxies
    if trusted:
        # Outermost, so the request context, audit and cookies see the client behind the proxy.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
    return app

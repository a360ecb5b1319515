"""HTTP serving of one process: graceful shutdown on SIGTERM/SIGINT, and a worker's health app.

Draining for `server.drain_s` (/readyz 503, the listener still serves), then closing: event
streams are told to reconnect, the listener closes and in-flight requests get `server.grace_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Iterator
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from forgeml.edge.drain import Drain
from forgeml.services.container import Services
from forgeml.workers.base import Supervisor

log = structlog.get_logger("forgeml")
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class DrainingServer(uvicorn.Server):
    """A uvicorn server that leaves the signals to `serve` (uvicorn's own handler would close
    the listener at once, before /readyz had told the load balancer)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_server(app: Any, host: str, port: int, grace_s: int) -> DrainingServer:
    cfg = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        # Once the listener is closed, in-flight requests get this long; then they are
        # cancelled (the middleware answers a clean 503 where no response had started).
        timeout_graceful_shutdown=grace_s,
        proxy_headers=False,  # the app applies server.trusted_proxies itself
    )
    return DrainingServer(cfg)


async def serve(servers: list[uvicorn.Server], drain: Drain, drain_s: float) -> None:
    """Serve until a signal (or a server stops by itself), then drain, close and wait.

    A second signal cuts the drain period short; a third one stops without the grace period.
    """
    loop = asyncio.get_running_loop()
    signals: asyncio.Queue[int] = asyncio.Queue()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, signals.put_nowait, sig)
    tasks = [asyncio.ensure_future(s.serve()) for s in servers]
    ended = asyncio.ensure_future(asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED))
    try:
        if await _signal_or(signals, ended):
            log.info("shutdown: draining", drain_s=drain_s)
            drain.begin()
            await _signal_or(signals, ended, timeout=drain_s)
        grace_s = servers[0].config.timeout_graceful_shutdown
        log.info("shutdown: closing the listener", in_flight_grace_s=grace_s)
        drain.close()
        for server in servers:
            server.should_exit = True
        everything = asyncio.ensure_future(asyncio.gather(*tasks, return_exceptions=True))
        while await _signal_or(signals, everything):
            log.warning("shutdown: forced, in-flight requests are cut")
            for server in servers:
                server.force_exit = True
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
        ended.cancel()
    for task in tasks:  # a server that failed (a port in use) fails the process
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _signal_or(
    signals: asyncio.Queue[int], other: Awaitable[Any], timeout: float | None = None
) -> bool:
    """Wait for a signal, `other`, or the timeout: True when a signal came first."""
    got = asyncio.ensure_future(signals.get())
    done, _ = await asyncio.wait(
        [got, asyncio.ensure_future(other)], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    if got in done:
        return True
    got.cancel()
    return False


# --- the health app of a standalone worker (`worker.health_listen`) -----------------------


def health_app(services: Services, supervisor: Supervisor, drain: Drain) -> FastAPI:
    """No tenant routes and no authentication: bind it to a private address (the default
    127.0.0.1); it shows loop names and states, never data, URLs or credentials."""
    app = FastAPI(title="ForgeML worker", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.drain = drain

    @app.get("/livez")
    def livez() -> JSONResponse:
        """Alive: every loop thread runs (a dead one is restarted, or the process exits 70)."""
        return _answer(_loop_checks(supervisor), supervisor)

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        """Ready to work: alive, the metadata database answers, not shutting down."""
        checks = _loop_checks(supervisor)
        try:
            services.db.ping()
            checks["database"] = "ok"
        except Exception as exc:  # "not ready", with the kind only: its text may name the host
            checks["database"] = f"error: {type(exc).__name__}"
        if drain.draining:
            checks["shutdown"] = "draining"
        return _answer(checks, supervisor)

    return app


def _loop_checks(supervisor: Supervisor) -> dict[str, str]:
    dead = supervisor.dead()
    if supervisor.fatal is not None:
        return {"loops": f"fatal: {supervisor.fatal} kept dying"}
    return {"loops": "ok" if not dead else "dead: " + ", ".join(dead)}


def _answer(checks: dict[str, str], supervisor: Supervisor) -> JSONResponse:
    ok = all(v == "ok" for v in checks.values())
    body: dict[str, Any] = {
        "status": "ok" if ok else "unavailable",
        "checks": checks,
        "loops": supervisor.health(),
    }
    return JSONResponse(body, status_code=200 if ok else 503)

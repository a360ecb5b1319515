"""Health endpoint of a standalone `forgeml worker` (`worker.health_listen`): /livez and /readyz
report each supervised loop (alive, restarts, heartbeat age) and answer 503 when one is dead.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from forgeml.api.drain import Drain
from forgeml.services.container import Services
from forgeml.workers.base import Supervisor


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

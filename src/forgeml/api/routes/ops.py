"""Operations endpoints outside `/api/v1`: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from forgeml.api.deps import Svc
from forgeml.api.schemas import HealthOut
from forgeml.domain.errors import ForgeError
from forgeml.edge.drain import drain_of

router = APIRouter(tags=["ops"])


@router.get("/healthz", name="ops.healthz", response_model=HealthOut)
def healthz() -> HealthOut:
    """The process is alive (no dependency checked)."""
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    name="ops.readyz",
    response_model=HealthOut,
    responses={
        503: {"model": HealthOut, "description": "draining, or a dependency is unreachable"}
    },
)
def readyz(svc: Svc, request: Request) -> Response:
    """Ready to serve: not shutting down, the metadata database and the object store answer, no
    loop is dead."""
    checks: dict[str, str] = {}
    if drain_of(request).draining:  # first thing on SIGTERM: the balancer stops sending traffic
        checks["shutdown"] = "draining"
    for name, ping in (("database", svc.db.ping), ("object_store", svc.store.ping)):
        try:
            ping()
            checks[name] = "ok"
        except ForgeError as exc:
            checks[name] = exc.message
        except Exception as exc:  # any failure means "not ready", never a 500
            checks[name] = f"error: {type(exc).__name__}"
    loops = getattr(request.app.state, "loops", None)  # the supervisor, in a process with loops
    if loops is not None:
        dead = loops.dead()
        checks["loops"] = "ok" if not dead else "dead: " + ", ".join(dead)
    ok = all(v == "ok" for v in checks.values())
    body = HealthOut(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    name="ops.metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"}},
)
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

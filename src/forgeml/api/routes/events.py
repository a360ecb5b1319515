"""Events: the catalogue of types and schemas, and the live server-sent event stream.

The stream polls the outbox every `events.poll_s` (that is its latency) from a worker thread,
so an open stream costs the event loop nothing while it waits.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from forgeml.api.deps import CurrentActor, Svc
from forgeml.api.errors import responses
from forgeml.api.notify_schemas import EventTypeOut
from forgeml.domain.errors import ForgeError, InvalidInput
from forgeml.edge.auth import SESSION_COOKIE
from forgeml.edge.drain import RECONNECT_MS, drain_of, reconnect_hint
from forgeml.services.container import Services
from forgeml.services.notify.events import StreamFilter

router = APIRouter(prefix="/events", tags=["events"])
_SSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "text/event-stream", "content": {"text/event-stream": {}}}
}


@router.get(
    "/types",
    name="event.types",
    response_model=list[EventTypeOut],
    responses=responses(401, 403),
)
def event_types(actor: CurrentActor, svc: Svc) -> list[EventTypeOut]:
    """Every event type with its version and the JSON schema of its `data`."""
    actor.p  # noqa: B018 - authenticated callers only
    return [
        EventTypeOut(
            type=t["type"],
            version=t["version"],
            description=t["description"],
            data_schema=t["schema"],
        )
        for t in svc.events.types()
    ]


@router.get(
    "/stream",
    name="event.stream",
    response_class=StreamingResponse,
    responses={**_SSE, **responses(401, 403, 422)},
)
async def stream(
    request: Request,
    actor: CurrentActor,
    svc: Svc,
    types: Annotated[
        list[str] | None, Query(description="patterns, repeated or comma-separated")
    ] = None,
    tenant_id: Annotated[str | None, Query(max_length=32, description="platform admins")] = None,
    after: Annotated[int | None, Query(ge=0, description="resume after this seq")] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """Server-sent events of the caller's tenant: `id:` is the event's seq, `event:` its type,
    `data:` the envelope. Resume with `Last-Event-ID` (or `?after=`); a comment every
    `events.keepalive_s` keeps proxies from closing an idle stream."""
    patterns = [p.strip() for t in types or [] for p in t.split(",") if p.strip()]
    flt = svc.events.stream_filter(actor, types=patterns, tenant_id=tenant_id)
    start = _resume_point(last_event_id, after)
    if start is None:
        start = await run_in_threadpool(svc.events.latest_seq, flt)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        _events(request, svc, flt, start), media_type="text/event-stream", headers=headers
    )


def _resume_point(last_event_id: str | None, after: int | None) -> int | None:
    """The header wins: a browser reconnecting keeps the original URL but sends the header."""
    if last_event_id is None:
        return after
    if not last_event_id.strip().isdigit():
        raise InvalidInput.fields([{"loc": "Last-Event-ID", "msg": "must be an event seq"}])
    return int(last_event_id)


async def _events(
    request: Request, svc: Services, flt: StreamFilter, cursor: int
) -> AsyncIterator[str]:
    cfg = svc.settings.events
    drain = drain_of(request)
    svc.events.stream_opened()
    try:
        yield f"retry: {RECONNECT_MS}\n\n"
        quiet_since = checked_at = time.monotonic()
        while not await request.is_disconnected():
            if drain.closing:  # shutdown: resume elsewhere from the last id
                yield reconnect_hint()
                return
            items, cursor, more = await run_in_threadpool(svc.events.read, flt, cursor)
            for seq, env in items:
                yield f"id: {seq}\nevent: {env['type']}\ndata: {json.dumps(env)}\n\n"
            now = time.monotonic()
            if items:
                quiet_since = now
            elif now - quiet_since >= cfg.keepalive_s:
                yield ": keep-alive\n\n"
                quiet_since = now
            if now - checked_at >= cfg.recheck_s:
                if not await run_in_threadpool(_still_valid, request, svc):
                    return
                checked_at = now
            if not more:
                await drain.sleep(cfg.poll_s)
    finally:
        svc.events.stream_closed()


def _still_valid(request: Request, svc: Services) -> bool:
    """Long streams re-check their credentials: a revoked token or suspended tenant ends them."""
    try:
        auth = request.headers.get("authorization", "")
        if auth:
            svc.auth.principal_from_token(auth.partition(" ")[2].strip())
        else:
            svc.auth.principal_from_session(request.cookies.get(SESSION_COOKIE, ""))
    except ForgeError:
        return False
    return True

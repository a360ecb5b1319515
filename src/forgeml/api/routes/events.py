"""Events: the catalogue of types and schemas, and the live server-sent event stream.

The stream polls the outbox every `events.poll_s` (that is its latency) from a worker thread,
so an open stream costs the event loop nothing while it waits.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from forgeml.api.deps import CurrentActor, Svc
from forgeml.api.notify_schemas import EventTypeOut
from forgeml.api.routing import Routes
from forgeml.domain.errors import InvalidInput
from forgeml.edge.sse import SSE_RESPONSE, Batch, event, sse_response

api = Routes("/events", tags=["events"], errors=(401, 403))
router = api.router


@api.route("GET /types", "event.types", list[EventTypeOut])
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


@api.route(
    "GET /stream", "event.stream", errors=(422,), ok=SSE_RESPONSE, response_class=StreamingResponse
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
    cursor = start

    def poll() -> Batch:
        nonlocal cursor
        items, cursor, more = svc.events.read(flt, cursor)
        chunks = [event(env["type"], env, seq) for seq, env in items]
        return Batch(chunks, more=more)

    track = (svc.events.stream_opened, svc.events.stream_closed)
    return sse_response(request, svc, poll, svc.settings.events.poll_s, track)


def _resume_point(last_event_id: str | None, after: int | None) -> int | None:
    """The header wins: a browser reconnecting keeps the original URL but sends the header."""
    if last_event_id is None:
        return after
    if not last_event_id.strip().isdigit():
        raise InvalidInput.fields([{"loc": "Last-Event-ID", "msg": "must be an event seq"}])
    return int(last_event_id)

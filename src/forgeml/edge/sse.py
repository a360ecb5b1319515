"""Server-sent events, one loop for every stream (the API's event stream, a job's log and event
streams, the portal's live job view): wire format, keep-alive comments, credential re-checks and
the shutdown drain live here, so the three streams cannot drift apart.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from forgeml.domain.errors import ForgeError
from forgeml.edge.auth import SESSION_COOKIE
from forgeml.edge.drain import RECONNECT_MS, drain_of, reconnect_hint
from forgeml.services.container import Services

KEEP_ALIVE = ": keep-alive\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# The OpenAPI `responses` entry of a stream route.
SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "text/event-stream", "content": {"text/event-stream": {}}}
}


def event(kind: str, data: Any, ident: int | None = None) -> str:
    """One SSE block; `default=str` lets timestamps through as the portal has always sent them."""
    head = f"id: {ident}\n" if ident is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


@dataclass
class Batch:
    """What one poll produced: ready-made blocks, whether the stream is over (its last block is
    in `chunks`), and whether more is waiting so the loop should poll again without sleeping."""

    chunks: list[str] = field(default_factory=list)
    done: bool = False
    more: bool = False


def still_valid(request: Request, svc: Services) -> bool:
    """Long streams re-check their credentials: a revoked token, a signed-out session or a
    suspended tenant ends them."""
    try:
        auth = request.headers.get("authorization", "")
        if auth:
            svc.auth.principal_from_token(auth.partition(" ")[2].strip())
        else:
            svc.auth.principal_from_session(request.cookies.get(SESSION_COOKIE, ""))
    except ForgeError:
        return False
    return True


async def _counted(
    chunks: AsyncGenerator[str], opened: Callable[[], None], closed: Callable[[], None]
) -> AsyncGenerator[str]:
    opened()
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        await chunks.aclose()
        closed()


async def _loop(
    request: Request, svc: Services, poll: Callable[[], Batch], poll_s: float
) -> AsyncGenerator[str]:
    cfg = svc.settings.events
    drain = drain_of(request)
    yield f"retry: {RECONNECT_MS}\n\n"
    quiet_since = checked_at = time.monotonic()
    while not await request.is_disconnected():
        if drain.closing:  # shutdown: the client resumes elsewhere with Last-Event-ID
            yield reconnect_hint()
            return
        batch = await run_in_threadpool(poll)  # polls do I/O: keep it off the event loop
        for chunk in batch.chunks:
            yield chunk
        if batch.done:
            return
        now = time.monotonic()
        if batch.chunks:
            quiet_since = now
        elif now - quiet_since >= cfg.keepalive_s:  # proxies close streams that look idle
            yield KEEP_ALIVE
            quiet_since = now
        if now - checked_at >= cfg.recheck_s:
            if not await run_in_threadpool(still_valid, request, svc):
                return
            checked_at = now
        if not batch.more:
            await drain.sleep(poll_s)


def sse_response(
    request: Request,
    svc: Services,
    poll: Callable[[], Batch],
    poll_s: float,
    track: tuple[Callable[[], None], Callable[[], None]] | None = None,
) -> StreamingResponse:
    """A `text/event-stream` response that calls `poll` (in the thread pool) every `poll_s`;
    `track` is called when the stream starts and when it ends, however it ends."""
    chunks = _loop(request, svc, poll, poll_s)
    if track is not None:
        chunks = _counted(chunks, *track)
    return StreamingResponse(chunks, media_type="text/event-stream", headers=HEADERS)

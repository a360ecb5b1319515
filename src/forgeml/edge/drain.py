"""Graceful shutdown state of one process's HTTP planes, shared by /readyz, the middleware and
the server-sent event streams; `forgeml.serving` drives it on SIGTERM (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from starlette.requests import Request

# The reconnect delay a stream suggests (SSE `retry:`), at its start and when it is closed.
RECONNECT_MS = 3000


def reconnect_hint() -> str:
    """The last block of a stream cut by shutdown: reconnect soon (elsewhere, behind a balancer);
    a comment, not an event, so no client mistakes it for data and `Last-Event-ID` still holds."""
    return f"retry: {RECONNECT_MS}\n: server shutting down; reconnect\n\n"


class Drain:
    """The process's shutdown state, two one-way flags: `draining` (/readyz 503, responses say
    `Connection: close`) then `closing` (streams end); `close()` wakes every `sleep()`er."""

    def __init__(self) -> None:
        self.draining = False
        self.closing = False
        self._lock = threading.Lock()
        self._waiters: set[asyncio.Future[None]] = set()

    def begin(self) -> None:
        self.draining = True

    def close(self) -> None:
        self.draining = self.closing = True
        with self._lock:
            waiters, self._waiters = self._waiters, set()
        for fut in waiters:
            fut.get_loop().call_soon_threadsafe(_wake, fut)

    async def sleep(self, seconds: float) -> bool:
        """Wait `seconds`, or less when the drain closes; True once it has."""
        if self.closing:
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiters.add(fut)
        try:
            if not self.closing:  # a close() that swapped the waiters before our add
                await asyncio.wait([fut], timeout=seconds)
        finally:
            with self._lock:
                self._waiters.discard(fut)
            fut.cancel()
        return self.closing


def _wake(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_result(None)


def drain_of(request: Request) -> Drain:
    drain: Drain = request.app.state.drain
    return drain

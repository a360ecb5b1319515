"""The job page's live feed (server-sent events) and small helpers shared by job pages.

The feed polls the jobs service once a second per open page and sends only what is new: status
changes, log lines and metric samples after the cursors the page already has.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool

from forgeml.domain.errors import ForgeError
from forgeml.edge.auth import SESSION_COOKIE
from forgeml.edge.drain import RECONNECT_MS, drain_of, reconnect_hint
from forgeml.web.core import WEB_DIR, Ctx
from forgeml.web.fmt import phase_note, when

POLL_S = 1.0
RECHECK_EVERY = 30  # polls between credential re-checks (a revoked session ends the stream)
TERMINAL = {"Completed", "Failed", "Stopped", "MaxRuntimeExceeded", "MaxWaitTimeExceeded"}
CHART_JS = WEB_DIR / "static" / "vendor" / "uPlot.iife.min.js"


def is_terminal(secondary: str) -> bool:
    return secondary in TERMINAL


def charts_available() -> bool:
    """The chart library is brought in by `make assets`; without it pages show tables."""
    return CHART_JS.is_file()


def epoch(at: datetime) -> float:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.timestamp()


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


class JobFeed:
    def __init__(self, ctx: Ctx, job_id: str, logs_after: int, metrics_after: int) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.logs_after = logs_after
        self.metrics_after = metrics_after
        self.last_status: tuple[str, str, str | None, str | None] | None = None

    def _status(self) -> dict[str, Any] | None:
        job = self.ctx.svc.jobs.describe(self.ctx.actor, self.job_id)
        j = job.job
        key = (j.status, j.secondary_status, j.status_message, j.pending_reason)
        if key == self.last_status:
            return None
        self.last_status = key
        return {
            "status": j.status,
            "secondary_status": j.secondary_status,
            "phase": phase_note(j.secondary_status, j.status_message),
            "pending_reason": j.pending_reason if j.secondary_status == "Pending" else None,
            "message": j.status_message,
            "failure_reason": j.failure_reason,
            "terminal": is_terminal(j.secondary_status),
            "transitions": [
                {
                    "secondary_status": t.secondary_status,
                    "start": when(t.start_time),
                    "message": t.message,
                }
                for t in job.transitions
            ],
        }

    def _logs(self) -> list[dict[str, Any]]:
        batch = self.ctx.svc.jobs.logs(
            self.ctx.actor, self.job_id, after=self.logs_after, limit=500
        )
        if batch:
            self.logs_after = batch[-1].id
        return [{"host": e.host, "stream": e.stream, "text": e.text} for e in batch]

    def _metrics(self) -> list[dict[str, Any]]:
        batch = self.ctx.svc.jobs.metrics(
            self.ctx.actor, self.job_id, name=None, after=self.metrics_after, limit=2000
        )
        if batch:
            self.metrics_after = batch[-1][0]
        return [{"name": s.name, "t": epoch(s.at), "v": s.value} for _c, s in batch]

    def _still_signed_in(self) -> bool:
        try:
            cookie = self.ctx.request.cookies.get(SESSION_COOKIE, "")
            self.ctx.svc.auth.principal_from_session(cookie)
        except ForgeError:
            return False
        return True

    def poll(self) -> tuple[list[str], bool]:
        out = []
        status = self._status()
        if status:
            out.append(sse("status", status))
        lines = self._logs()
        if lines:
            out.append(sse("log", {"after": self.logs_after, "lines": lines}))
        samples = self._metrics()
        if samples:
            out.append(sse("metrics", {"after": self.metrics_after, "samples": samples}))
        done = bool(self.last_status and is_terminal(self.last_status[1]))
        return out, done and not lines and not samples

    async def stream(self) -> AsyncIterator[str]:
        yield f"retry: {RECONNECT_MS}\n\n"
        drain = drain_of(self.ctx.request)
        polls = 0
        while not await self.ctx.request.is_disconnected():
            if drain.closing:  # shutdown: EventSource reconnects by itself
                yield reconnect_hint()
                return
            try:
                chunks, done = await run_in_threadpool(self.poll)
            except ForgeError:
                yield sse("end", {"reason": "gone"})
                return
            for chunk in chunks:
                yield chunk
            if done:
                yield sse("end", {"reason": "finished"})
                return
            polls += 1
            if polls % RECHECK_EVERY == 0 and not await run_in_threadpool(self._still_signed_in):
                return
            await drain.sleep(POLL_S)

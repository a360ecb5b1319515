"""The job page's live feed (server-sent events) and small helpers shared by job pages.

The feed polls the jobs service once a second per open page and sends only what is new: status
changes, log lines and metric samples after the cursors the page already has.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.responses import StreamingResponse

from forgeml.domain.errors import ForgeError
from forgeml.edge.sse import Batch, event, sse_response
from forgeml.web.core import WEB_DIR, Ctx
from forgeml.web.fmt import build_note, phase_note, when

POLL_S = 1.0  # credential re-checks and keep-alives follow the `events` settings
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


class JobFeed:
    def __init__(self, ctx: Ctx, job_id: str, logs_after: int, metrics_after: int) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.logs_after = logs_after
        self.metrics_after = metrics_after
        self.last_status: tuple[str, str, str | None, str | None, str | None] | None = None

    def _status(self) -> dict[str, Any] | None:
        job = self.ctx.svc.jobs.describe(self.ctx.actor, self.job_id)
        j = job.job
        build = build_note(job.environment_build) if job.environment_build else None
        key = (j.status, j.secondary_status, j.status_message, j.pending_reason, build)
        if key == self.last_status:
            return None
        self.last_status = key
        return {
            "status": j.status,
            "secondary_status": j.secondary_status,
            "phase": phase_note(j.secondary_status, j.status_message),
            "pending_reason": j.pending_reason if j.secondary_status == "Pending" else None,
            "message": j.status_message,
            "environment_build": build,
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

    def poll(self) -> tuple[list[str], bool]:
        out = []
        status = self._status()
        if status:
            out.append(event("status", status))
        lines = self._logs()
        if lines:
            out.append(event("log", {"after": self.logs_after, "lines": lines}))
        samples = self._metrics()
        if samples:
            out.append(event("metrics", {"after": self.metrics_after, "samples": samples}))
        done = bool(self.last_status and is_terminal(self.last_status[1]))
        return out, done and not lines and not samples

    def next_batch(self) -> Batch:
        """One poll as the SSE loop wants it; a job that vanished ends the stream."""
        try:
            chunks, done = self.poll()
        except ForgeError:
            return Batch([event("end", {"reason": "gone"})], done=True)
        if done:
            chunks.append(event("end", {"reason": "finished"}))
        return Batch(chunks, done=done)

    def response(self) -> StreamingResponse:
        return sse_response(self.ctx.request, self.ctx.svc, self.next_batch, POLL_S)

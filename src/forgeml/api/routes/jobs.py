"""Training jobs: create, describe, list, stop, logs (paged and live SSE), metrics, events,
artifacts. Routes parse, call one service method and render.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Header, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic import Field

from forgeml.api.deps import CurrentActor, LateActor, Paging, Svc
from forgeml.api.job_schemas import (
    EnvironmentBuildOut,
    JobCreate,
    JobDetailOut,
    JobEventOut,
    JobOut,
    LogLineOut,
    LogsOut,
    MetricOut,
    MetricsOut,
    TransitionOut,
    job_out,
)
from forgeml.api.routing import OpenApiResponses, Rendered, Routes
from forgeml.api.schemas import PageOut, Timestamp, page_of
from forgeml.domain.errors import InvalidInput
from forgeml.domain.filters import JobFilter
from forgeml.domain.quotas import phase_seconds
from forgeml.edge.sse import SSE_RESPONSE, Batch, event, sse_response
from forgeml.services.container import Services
from forgeml.services.identity.audit import Actor

api = Routes(
    "/training-jobs", tags=["training jobs"], errors=(401, 403), ids={"job_id": "training_job"}
)
router = api.router
_POLL_S = 0.3
_PAGE = Rendered(PageOut[JobOut])
_DETAIL = Rendered(JobDetailOut)


@api.route("POST", "training_job.create", JobOut, status=201, errors=(409, 413, 422))
def create_job(
    body: JobCreate,
    actor: CurrentActor,
    svc: Svc,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JobOut:
    """Validate and queue a job; `Idempotency-Key` makes a retried create return the same job."""
    spec = body.to_spec(svc.settings.jobs.default_max_runtime_s)
    return job_out(svc.jobs.create(actor, spec, idempotency_key=idempotency_key))


@api.route("GET", "training_job.list", PageOut[JobOut], errors=(422,))
def list_jobs(
    caller: LateActor,
    svc: Svc,
    page: Paging,
    status: Annotated[str | None, Query(max_length=32)] = None,
    name_contains: Annotated[str | None, Query(max_length=63)] = None,
    created_after: Timestamp | None = None,
    created_before: Timestamp | None = None,
    tag: Annotated[
        list[Annotated[str, Field(pattern="=")]] | None,
        Query(description="key=value, repeatable"),
    ] = None,
) -> Response:
    actor = caller.actor()
    tags = {}
    for item in tag or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput.fields([{"loc": "tag", "msg": "use key=value"}])
        tags[key] = value
    flt = JobFilter(status, name_contains, created_after, created_before, tags or None)
    res = svc.jobs.list(actor, flt, cursor=page.cursor, limit=page.limit)
    return _PAGE(page_of(job_out, res))


@api.route("GET /{job_id}", "training_job.get", JobDetailOut, errors=(404,))
def describe_job(job_id: str, caller: LateActor, svc: Svc) -> Response:
    d = svc.jobs.describe(caller.actor(), job_id)
    out = JobDetailOut(
        **job_out(d.job).model_dump(),
        transitions=[TransitionOut.model_validate(t) for t in d.transitions],
        phase_seconds=phase_seconds(d.transitions, datetime.now(UTC)),
        environment_build=EnvironmentBuildOut.model_validate(d.environment_build)
        if d.environment_build
        else None,
    )
    return _DETAIL(out)


@api.route("POST /{job_id}/stop", "training_job.stop", JobOut, errors=(404, 409))
def stop_job(job_id: str, actor: CurrentActor, svc: Svc) -> JobOut:
    return job_out(svc.jobs.stop(actor, job_id))


@api.route("GET /{job_id}/logs", "training_job.logs", LogsOut, errors=(404, 422))
def job_logs(
    job_id: str,
    actor: CurrentActor,
    svc: Svc,
    after: Annotated[int, Query(ge=0, description="the next_after of the previous page")] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> LogsOut:
    finished = svc.jobs.is_finished(actor, job_id)  # before reading: no line can be missed
    items = svc.jobs.logs(actor, job_id, after=after, limit=limit)
    nxt = items[-1].id if items else after
    return LogsOut(
        items=[LogLineOut.model_validate(x) for x in items], next_after=nxt, finished=finished
    )


@api.route("GET /{job_id}/metrics", "training_job.metrics", MetricsOut, errors=(404, 422))
def job_metrics(
    job_id: str,
    actor: CurrentActor,
    svc: Svc,
    name: Annotated[str | None, Query(max_length=255)] = None,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10000)] = 5000,
) -> MetricsOut:
    rows = svc.jobs.metrics(actor, job_id, name=name, after=after, limit=limit)
    items = [MetricOut(id=i, **asdict(m)) for i, m in rows]
    return MetricsOut(items=items, next_after=rows[-1][0] if rows else after)


@api.route("GET /{job_id}/events", "training_job.events", list[JobEventOut], errors=(404, 422))
def job_events(
    job_id: str,
    actor: CurrentActor,
    svc: Svc,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[JobEventOut]:
    return [
        JobEventOut.model_validate(e)
        for e in svc.jobs.events(actor, job_id, after=after, limit=limit)
    ]


def _artifact(name: str) -> Callable[..., Response]:
    def download(job_id: str, actor: CurrentActor, svc: Svc) -> Response:
        art = svc.jobs.artifact(actor, job_id, name)
        if art.url:
            return RedirectResponse(art.url, status_code=307)

        def chunks() -> Any:
            with art.open() as it:
                yield from it

        headers = {
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Length": str(art.size),
        }
        return StreamingResponse(chunks(), media_type="application/gzip", headers=headers)

    return download


_DOWNLOAD: OpenApiResponses = {
    200: {"content": {"application/gzip": {}}},
    307: {"description": "redirect to a presigned URL"},
}
for _name, _op in (("model.tar.gz", "model"), ("output.tar.gz", "output")):
    api.route(
        f"GET /{{job_id}}/artifacts/{_name}",
        f"training_job.{_op}_download",
        errors=(404,),
        ok=_DOWNLOAD,
        response_class=StreamingResponse,
    )(_artifact(_name))


# --- live streams (SSE) ----------------------------------------------------------------------


Page = list[tuple[int, str, dict[str, Any]]]  # (SSE id, event type, data)


def _log_page(svc: Services, actor: Actor, job_id: str, after: int) -> Page:
    lines = svc.jobs.logs(actor, job_id, after=after, limit=1000)
    return [(x.id, "log", LogLineOut.model_validate(x).model_dump(mode="json")) for x in lines]


def _event_page(svc: Services, actor: Actor, job_id: str, after: int) -> Page:
    evs = svc.jobs.events(actor, job_id, after=after, limit=500)
    return [(e.seq, e.type, JobEventOut.model_validate(e).model_dump(mode="json")) for e in evs]


def _streamer(page: Callable[[Services, Actor, str, int], Page]) -> Callable[..., Response]:
    def stream(
        job_id: str,
        request: Request,
        actor: CurrentActor,
        svc: Svc,
        after: Annotated[int, Query(ge=0)] = 0,
    ) -> StreamingResponse:
        svc.jobs.get(actor, job_id)  # 404/403 before the stream starts
        pos = after

        def poll() -> Batch:
            nonlocal pos
            finished = svc.jobs.is_finished(actor, job_id)  # before reading: nothing is missed
            items = page(svc, actor, job_id, pos)
            if items:
                pos = items[-1][0]
            chunks = [event(kind, data, ident) for ident, kind, data in items]
            done = finished and not items
            if done:
                chunks.append(event("end", {}))
            return Batch(chunks, done=done, more=bool(items))  # a full page: read on at once

        return sse_response(request, svc, poll, _POLL_S)

    return stream


for _route, _page, _doc in (
    (
        "logs",
        _log_page,
        "Log lines as server-sent events (`id:` = line id, `event: log`) until the job ends.",
    ),
    (
        "events",
        _event_page,
        "The job's events (state changes, completion) as server-sent events until it ends.",
    ),
):
    api.route(
        f"GET /{{job_id}}/{_route}/stream",
        f"training_job.{_route}_stream",
        errors=(404, 422),
        ok=SSE_RESPONSE,
        response_class=StreamingResponse,
        description=_doc,
    )(_streamer(_page))

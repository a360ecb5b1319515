"""Training jobs: list with filters (live badges from the event stream), the job page with its
timeline, log tail, metric charts, stop button and model download, and the page's live feed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from forgeml.domain.errors import Conflict, NotFound
from forgeml.domain.quotas import phase_seconds
from forgeml.web import live
from forgeml.web.core import Ctx, Page, PortalRoute, redirect, service
from forgeml.web.fmt import phase_note
from forgeml.web.home_pages import class_prices, job_cost

router = APIRouter(route_class=PortalRoute)
STATUSES = ("InProgress", "Pending", "Training", "Completed", "Failed", "Stopping", "Stopped")
TAIL_LINES = 400


def _filter(ctx: Ctx) -> tuple[Any, dict[str, str]]:
    from forgeml.domain.filters import JobFilter

    q = ctx.request.query_params
    params = {"status": q.get("status") or "", "name": (q.get("name") or "").strip()[:63]}
    status = params["status"] if params["status"] in STATUSES else None
    return JobFilter(status=status, name_contains=params["name"] or None), params


@router.get("/jobs", name="portal.jobs")
def jobs(ctx: Page) -> Response:
    if service(ctx.svc, "jobs") is None:
        return ctx.render("soon.html", area="Jobs")
    flt, params = _filter(ctx)
    cursor = ctx.request.query_params.get("cursor") or None
    page = ctx.svc.jobs.list(ctx.actor, flt, cursor=cursor, limit=50)
    return ctx.render("tenant/jobs.html", jobs=page, params=params, statuses=STATUSES)


def log_tail(ctx: Ctx, job_id: str) -> tuple[list[Any], int]:
    """The last TAIL_LINES log lines and the cursor after them (pages through the log)."""
    lines: list[Any] = []
    after = 0
    for _ in range(50):
        batch = ctx.svc.jobs.logs(ctx.actor, job_id, after=after, limit=1000)
        if not batch:
            break
        lines = (lines + batch)[-TAIL_LINES:]
        after = batch[-1].id
    return lines, after


def metric_series(ctx: Ctx, job_id: str) -> tuple[dict[str, list[tuple[float, float]]], int]:
    series: dict[str, list[tuple[float, float]]] = {}
    after = 0
    for _ in range(50):
        batch = ctx.svc.jobs.metrics(ctx.actor, job_id, name=None, after=after, limit=2000)
        if not batch:
            break
        for _cursor, sample in batch:
            series.setdefault(sample.name, []).append((live.epoch(sample.at), sample.value))
        after = batch[-1][0]
    return series, after


@router.get("/jobs/{job_id}", name="portal.job")
def job(job_id: str, ctx: Page) -> Response:
    if service(ctx.svc, "jobs") is None:
        raise NotFound("jobs are not available")
    details = ctx.svc.jobs.describe(ctx.actor, job_id)
    lines, log_after = log_tail(ctx, job_id)
    series, metric_after = metric_series(ctx, job_id)
    j = details.job
    return ctx.render(
        "tenant/job.html",
        job=j,
        transitions=details.transitions,
        phases=phase_seconds(details.transitions, datetime.now(UTC)),
        lines=lines,
        log_after=log_after,
        series=series,
        metric_after=metric_after,
        finished=live.is_terminal(j.secondary_status),
        charts=live.charts_available(),
        elapsed=_elapsed(j),
        started_epoch=live.epoch(j.started_at or j.created_at) if not j.ended_at else None,
        phase=phase_note(j.secondary_status, j.status_message),
        pending_reason=j.pending_reason if j.secondary_status == "Pending" else None,
        environment_build=details.environment_build,
        input_names=_input_names(ctx, j.inputs),
        cost=job_cost(j, class_prices(ctx)) if j.billable_seconds else None,
    )


def _input_names(ctx: Ctx, inputs: dict[str, Any]) -> dict[str, str]:
    """Names of the tenant's own input datasets (platform datasets are shown by kind only)."""
    names = {}
    for info in inputs.values():
        dataset_id = str(info.get("dataset_id", ""))
        if info.get("kind") == "platform" or not dataset_id or ctx.is_admin:
            continue
        try:
            names[dataset_id] = ctx.svc.datasets.get(ctx.actor, dataset_id)[0].name
        except NotFound:  # deleted since
            continue
    return names


def _elapsed(j: Any) -> float | None:
    start = j.started_at or j.created_at
    if start is None:
        return None
    end = j.ended_at or datetime.now(UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return float((end - start).total_seconds())


@router.get("/jobs/{job_id}/live", name="portal.job_live")
def job_live(job_id: str, ctx: Page) -> Response:
    """Server-sent events for the job page: status, transitions, log lines, metric samples."""
    ctx.svc.jobs.get(ctx.actor, job_id)  # 404 before the stream starts
    q = ctx.request.query_params
    logs_after = int(q["logs"]) if q.get("logs", "").isdigit() else 0
    metrics_after = int(q["metrics"]) if q.get("metrics", "").isdigit() else 0
    return live.JobFeed(ctx, job_id, logs_after, metrics_after).response()


@router.post("/jobs/{job_id}/stop", name="portal.job_stop")
def job_stop(job_id: str, ctx: Page) -> Response:
    try:
        j = ctx.svc.jobs.stop(ctx.actor, job_id)
    except Conflict as exc:
        return redirect(f"/jobs/{job_id}", exc.message, "bad")
    return redirect(f"/jobs/{job_id}", f"Stop requested for {j.name}.")


@router.get("/jobs/{job_id}/artifacts/{name}", name="portal.job_artifact")
def job_artifact(job_id: str, name: str, ctx: Page) -> Response:
    job = ctx.svc.jobs.get(ctx.actor, job_id)
    art = ctx.svc.jobs.artifact(ctx.actor, job_id, name)
    if art.url:
        return RedirectResponse(art.url, status_code=303)

    def chunks() -> Any:
        with art.open() as body:
            yield from body

    filename = f"{job.name}-{name}"
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Content-Length": str(art.size),
    }
    return StreamingResponse(chunks(), media_type="application/gzip", headers=headers)

"""Admin: algorithms — register by upload (JS posts the bundle to the API), versions, build logs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from forgeml.domain.build_progress import MAX_BUILD_LOG_LINES, BuildProgress
from forgeml.domain.errors import ForgeError
from forgeml.edge.build_follow import BuildFollower
from forgeml.edge.sse import Batch, sse_response
from forgeml.web.admin_pages import admin_only
from forgeml.web.core import Page, PortalRoute, redirect
from forgeml.web.live import epoch

LIVE_POLL_S = 0.5  # the builder writes its lines twice a second

router = APIRouter(route_class=PortalRoute, prefix="/admin/algorithms")


@router.get("", name="portal.admin.algorithms")
def algorithms(ctx: Page) -> Response:
    admin_only(ctx)
    q = ctx.request.query_params
    page = ctx.svc.algorithms.list_admin(
        ctx.actor, name=q.get("name") or None, cursor=q.get("cursor") or None, limit=50
    )
    return ctx.render(
        "admin/algorithms.html",
        algorithms=page,
        max_bytes=ctx.svc.settings.algorithm_max_bundle_bytes,
    )


@router.get("/{algorithm_id}", name="portal.admin.algorithm")
def algorithm(algorithm_id: str, ctx: Page) -> Response:
    admin_only(ctx)
    item = ctx.svc.algorithms.get_admin(ctx.actor, algorithm_id)
    return ctx.render("admin/algorithm.html", item=item)


@router.get("/{algorithm_id}/versions/{version_id}/log", name="portal.admin.algorithm_log")
def build_log(algorithm_id: str, version_id: str, ctx: Page) -> Response:
    admin_only(ctx)
    item = ctx.svc.algorithms.get_admin(ctx.actor, algorithm_id)
    version = ctx.svc.algorithms.version_admin(ctx.actor, algorithm_id, version_id)
    log = ctx.svc.algorithms.build_log(ctx.actor, algorithm_id, version_id)
    latest = ctx.svc.algorithms.build_log_page(
        ctx.actor, algorithm_id, version_id, after=0, limit=MAX_BUILD_LOG_LINES, audit=False
    )
    return ctx.render(
        "admin/algorithm_log.html",
        item=item,
        version=version,
        log=log,
        build=_shown_build(latest.progress) if latest.progress else None,
        lines=latest.lines,
        after=latest.lines[-1].id if latest.lines else 0,
        finished=latest.finished,
    )


@router.get(
    "/{algorithm_id}/versions/{version_id}/log/live", name="portal.admin.algorithm_log_live"
)
def build_log_live(algorithm_id: str, version_id: str, ctx: Page) -> Response:
    """Server-sent events for the build log page: the build's phase and counters, its lines."""
    admin_only(ctx)
    svc = ctx.svc.algorithms
    svc.build_log_page(ctx.actor, algorithm_id, version_id, after=0, limit=1)  # 404, audited
    q = ctx.request.query_params
    follow = BuildFollower(
        int(q["after"]) if q.get("after", "").isdigit() else 0,
        _shown_build,
        lambda x: {"id": x.id, "phase": x.phase.value, "line": x.line},
    )

    def poll() -> Batch:
        return follow.poll(
            lambda pos: svc.build_log_page(
                ctx.actor, algorithm_id, version_id, after=pos, limit=500, audit=False
            )
        )

    return sse_response(ctx.request, ctx.svc, poll, LIVE_POLL_S)


def _shown_build(b: BuildProgress) -> dict[str, Any]:
    return {
        "attempt": b.attempt,
        "phase": b.phase.value,
        "started": epoch(b.started_at),
        "elapsed_s": b.elapsed_s(datetime.now(UTC)),
        "finished": b.phase.finished,
        "packages_installed": b.packages_installed,
        "lines": b.lines,
        "dropped": b.dropped,
    }


@router.post("/{algorithm_id}/versions/{version_id}", name="portal.admin.algorithm_change")
def change(algorithm_id: str, version_id: str, ctx: Page) -> Response:
    action = ctx.field("action")
    back = f"/admin/algorithms/{algorithm_id}"
    svc = ctx.svc.algorithms
    try:
        if action == "rebuild":
            svc.rebuild(ctx.actor, algorithm_id, version_id)
            return redirect(back, "Environment build queued.")
        if action in ("deprecate", "undeprecate"):
            svc.set_deprecated(ctx.actor, algorithm_id, version_id, action == "deprecate")
            return redirect(back, f"Version {action}d.")
    except ForgeError as exc:
        if exc.code == "not_found":
            raise
        return redirect(back, f"Not changed: {exc.message}", "bad")
    return redirect(back, "Unknown action.", "bad")

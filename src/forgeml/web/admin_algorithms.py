"""Admin: algorithms — register by upload (JS posts the bundle to the API), versions, build logs."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from forgeml.domain.errors import ForgeError
from forgeml.web.admin_pages import admin_only
from forgeml.web.core import Page, PortalRoute, redirect

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
    return ctx.render("admin/algorithm_log.html", item=item, version=version, log=log)


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

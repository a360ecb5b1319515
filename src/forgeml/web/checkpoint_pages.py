"""Checkpoint locations in the portal: the list with a create form, and one location's files
(browse by folder prefix, download a file or the archive through the API, delete).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from forgeml.domain.errors import Conflict, InvalidInput
from forgeml.web.core import Ctx, Page, PortalRoute, field_errors, redirect

router = APIRouter(route_class=PortalRoute)


def list_page(ctx: Ctx, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    cursor = ctx.request.query_params.get("cursor") or None
    page = ctx.svc.checkpoints.list(ctx.actor, cursor=cursor, limit=50)
    return ctx.render("tenant/checkpoints.html", status, locations=page, errors=errors or {})


@router.get("/checkpoints", name="portal.checkpoints")
def checkpoints(ctx: Page) -> Response:
    if ctx.is_admin:
        return redirect("/admin", "Checkpoint locations belong to tenants.")
    return list_page(ctx)


@router.post("/checkpoints", name="portal.checkpoint_create")
def checkpoint_create(ctx: Page) -> Response:
    try:
        loc = ctx.svc.checkpoints.create(
            ctx.actor, ctx.field("name"), ctx.field("description")[:1000]
        )
    except (InvalidInput, Conflict) as exc:
        errors = field_errors(exc) if isinstance(exc, InvalidInput) else {"name": exc.message}
        return list_page(ctx, errors, 422 if isinstance(exc, InvalidInput) else 409)
    return redirect(f"/checkpoints/{loc.id}", f"Checkpoint location {loc.name} created.")


@router.get("/checkpoints/{location_id}", name="portal.checkpoint")
def checkpoint(location_id: str, ctx: Page) -> Response:
    loc = ctx.svc.checkpoints.load(ctx.actor, location_id)
    prefix = ctx.request.query_params.get("prefix", "")[:1024]
    cursor = ctx.request.query_params.get("cursor") or None
    files = ctx.svc.checkpoints.files(ctx.actor, loc.id, prefix=prefix, cursor=cursor, limit=200)
    return ctx.render("tenant/checkpoint.html", loc=loc, files=files, prefix=prefix)


@router.post("/checkpoints/{location_id}/delete", name="portal.checkpoint_delete")
def checkpoint_delete(location_id: str, ctx: Page) -> Response:
    loc = ctx.svc.checkpoints.load(ctx.actor, location_id)
    try:
        ctx.svc.checkpoints.delete(ctx.actor, loc.id)
    except Conflict as exc:
        return redirect(f"/checkpoints/{loc.id}", f"Not deleted: {exc.message}", "bad")
    return redirect("/checkpoints", f"Checkpoint location {loc.name} deleted.")

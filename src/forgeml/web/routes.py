"""The portal router: pages per area (each in its own module), static files, the HTML 404 page."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from forgeml.web import (
    admin_algorithms,
    admin_datasets,
    admin_ops,
    admin_pages,
    algorithm_pages,
    auth_pages,
    checkpoint_pages,
    dataset_pages,
    home_pages,
    identity_pages,
    job_pages,
    usage_pages,
    webhook_pages,
)
from forgeml.web.core import WEB_DIR, HtmlFallbackRoute, html_fallback

AREA_ROUTERS = [
    auth_pages.router,
    home_pages.router,
    identity_pages.router,
    admin_pages.router,
    algorithm_pages.router,
    admin_algorithms.router,
    dataset_pages.router,
    admin_datasets.router,
    job_pages.router,
    admin_ops.router,
    webhook_pages.router,
    checkpoint_pages.router,
    usage_pages.router,
]


def favicon() -> FileResponse:
    """Browsers ask for /favicon.ico whatever the page links: answer with the portal's icon."""
    return FileResponse(WEB_DIR / "static" / "favicon.svg", media_type="image/svg+xml")


def portal_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for area in AREA_ROUTERS:
        router.include_router(area, include_in_schema=False)
    router.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    router.add_api_route("/favicon.ico", favicon, methods=["GET", "HEAD"], include_in_schema=False)
    # last: browsers asking for a page that does not exist get the portal's 404 page
    router.routes.append(
        HtmlFallbackRoute(
            "/{path:path}", html_fallback, methods=["GET", "HEAD"], include_in_schema=False
        )
    )
    return router

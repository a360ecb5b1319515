"""`/api/v1/docs`: Swagger UI served from this server (its assets come from npm through
`make assets` into the portal's static/vendor/), so the page works offline, without a CDN."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

VENDOR = Path(__file__).resolve().parents[1] / "web" / "static" / "vendor"
JS, CSS = "swagger-ui-bundle.js", "swagger-ui.css"

MISSING = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ForgeML API</title>
</head><body><h1>ForgeML API</h1><p>The interactive docs need Swagger UI's files: run
<code>make assets</code> (npm ci) and restart. The OpenAPI document is at
<a href="{openapi}">{openapi}</a>.</p></body></html>"""


def docs_router(prefix: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    openapi = f"{prefix}/openapi.json"

    @router.get(f"{prefix}/docs", name="docs.swagger_ui")
    def swagger_ui() -> Response:
        if not (VENDOR / JS).is_file() or not (VENDOR / CSS).is_file():
            return HTMLResponse(MISSING.format(openapi=openapi), status_code=503)
        return get_swagger_ui_html(
            openapi_url=openapi,
            title="ForgeML API",
            swagger_js_url=f"/static/vendor/{JS}",
            swagger_css_url=f"/static/vendor/{CSS}",
            swagger_favicon_url="/static/favicon.svg",
        )

    return router

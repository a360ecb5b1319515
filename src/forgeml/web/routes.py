"""Portal pages (server-rendered); for now the landing page that points at the API and docs."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

import forgeml

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def portal_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", name="portal.home", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, "home.html", {"version": forgeml.__version__})

    return router

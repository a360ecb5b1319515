"""Portal plumbing: templates, the session principal with form CSRF, flash messages, HTML errors.

Pages resolve the principal through `edge.auth.authenticate` (same rules as the API: session cookie,
CSRF on unsafe methods — here from the form's `csrf_token` field — and the admin-plane rule).
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.routing import Match
from starlette.types import Scope

import forgeml
from forgeml.domain.authz import Perm, allowed
from forgeml.domain.errors import ForgeError, InvalidInput, NotFound, Unauthenticated
from forgeml.edge.auth import SESSION_COOKIE, authenticate, get_services
from forgeml.edge.statuses import status_for
from forgeml.services.container import Services
from forgeml.services.identity.audit import Actor
from forgeml.web import fmt

WEB_DIR = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(WEB_DIR / "templates"))
TEMPLATES.env.globals["forgeml_version"] = forgeml.__version__
TEMPLATES.env.filters.update(fmt.FILTERS)
FLASH_COOKIE = "forgeml_flash"
CSRF_FIELD = "csrf_token"


@dataclass
class Ctx:
    """What a page handler needs: the request, the signed-in actor, the services, the form."""

    request: Request
    actor: Actor
    svc: Services
    csrf: str
    form: FormData | None = None
    flashes: list[tuple[str, str]] = field(default_factory=list)

    def can(self, perm: Perm) -> bool:
        return allowed(self.actor.p, perm)

    @property
    def is_admin(self) -> bool:
        return self.actor.p.is_platform_admin

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else default

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return render(self.request, template, status_code, ctx=self, **context)


def render(
    request: Request, template: str, status_code: int = 200, ctx: Ctx | None = None, **context: Any
) -> HTMLResponse:
    flashes = _read_flashes(request)
    state = request.scope.get("state", {})
    actor: Actor | None = ctx.actor if ctx else state.get("actor")
    values = {
        "ctx": ctx,
        "me": actor.principal if actor else None,
        "csrf": ctx.csrf if ctx else str(state.get("csrf_token") or ""),
        "flashes": flashes,
        "path": request.url.path,
        "currency": _currency(ctx),
        **context,
    }
    resp = TEMPLATES.TemplateResponse(request, template, values, status_code=status_code)
    if flashes:
        resp.delete_cookie(FLASH_COOKIE, path="/")
    return resp


def _currency(ctx: Ctx | None) -> str:
    jobs = getattr(ctx.svc.settings, "jobs", None) if ctx else None
    return str(getattr(jobs, "currency", ""))


def redirect(url: str, flash: str | None = None, kind: str = "ok") -> RedirectResponse:
    """303 after a POST; the flash message survives one redirect in a short-lived cookie."""
    resp = RedirectResponse(url, status_code=303)
    if flash:
        raw = base64.urlsafe_b64encode(json.dumps([[kind, flash]]).encode()).decode()
        resp.set_cookie(FLASH_COOKIE, raw, max_age=60, path="/", httponly=True, samesite="strict")
    return resp


def _read_flashes(request: Request) -> list[tuple[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        items = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return [(str(k), str(m)) for k, m in items][:5]
    except (ValueError, TypeError):
        return []


async def read_form(request: Request) -> FormData | None:
    """Parse the form of unsafe requests; its CSRF field is what `authenticate` checks."""
    if request.method in ("GET", "HEAD"):
        return None
    form = await request.form()
    token = form.get(CSRF_FIELD)
    request.scope.setdefault("state", {})["form_csrf"] = token if isinstance(token, str) else ""
    return form


def page_ctx(
    request: Request,
    svc: Annotated[Services, Depends(get_services)],
    form: Annotated[FormData | None, Depends(read_form)],
) -> Ctx:
    if not request.cookies.get(SESSION_COOKIE):
        raise Unauthenticated()
    actor = authenticate(request, svc)
    csrf = str(request.scope["state"].get("csrf_token", ""))
    return Ctx(request=request, actor=actor, svc=svc, csrf=csrf, form=form)


Page = Annotated[Ctx, Depends(page_ctx)]
AREAS = ("datasets", "algorithms", "jobs", "webhooks")


def service(svc: Services, name: str) -> Any | None:
    """A feature service by name, or None on a server without it (its pages say "coming soon")."""
    found = getattr(svc, name, None)
    if found is None:
        found = svc.extra.get(name)
    return found


def available(svc: Services) -> dict[str, bool]:
    return {name: service(svc, name) is not None for name in AREAS}


def field_errors(exc: InvalidInput) -> dict[str, str]:
    """Map `InvalidInput.fields` problems to {field name: message} for display beside inputs."""
    out: dict[str, str] = {}
    for problem in exc.details.get("errors", []):
        loc = str(problem.get("loc", ""))
        out.setdefault(loc, str(problem.get("msg", "invalid")))
        out.setdefault(loc.rsplit(".", 1)[-1], str(problem.get("msg", "invalid")))
    return out


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return render(request, "error.html", status, title=title, message=message, status=status)


def not_found_page(request: Request) -> HTMLResponse:
    return render(request, "404.html", 404, status=404)


class PortalRoute(APIRoute):
    """Renders domain errors as portal pages: sign-in redirect, 404 page, error page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except Unauthenticated:
                target = quote(request.url.path, safe="/")
                return RedirectResponse(f"/login?next={target}", status_code=303)
            except NotFound:
                return not_found_page(request)
            except ForgeError as exc:
                status = status_for(exc)
                return error_page(request, status, exc.code.replace("_", " "), exc.message)

        return wrapped


class HtmlFallbackRoute(PortalRoute):
    """Catch-all for browsers only (GET/HEAD, Accept: text/html, outside /api): the 404 page.

    Matching nothing else keeps the API's own 404/405 envelopes unchanged.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return Match.NONE, {}
        path: str = scope["path"]
        if path.startswith(("/api/", "/static/")):
            return Match.NONE, {}
        headers: Mapping[bytes, bytes] = dict(scope["headers"])
        if b"text/html" not in headers.get(b"accept", b""):
            return Match.NONE, {}
        return super().matches(scope)


def html_fallback(request: Request) -> Response:
    _try_sign_in(request)
    return not_found_page(request)


def _try_sign_in(request: Request) -> None:
    """Best effort: show the navigation on the 404 page when the visitor is signed in."""
    if request.cookies.get(SESSION_COOKIE):
        with contextlib.suppress(ForgeError):
            authenticate(request, request.app.state.services)

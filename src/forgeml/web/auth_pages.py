"""Sign-in and sign-out pages: the same services as `POST /api/v1/auth/login` and `/logout`."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from forgeml.domain.errors import TooManyRequests, Unauthenticated
from forgeml.edge.auth import (
    SESSION_COOKIE,
    base_actor,
    clear_session_cookie,
    cookie_secure,
    get_services,
    set_session_cookie,
)
from forgeml.services.container import Services
from forgeml.web.core import Page, PortalRoute, read_form, redirect, render

router = APIRouter(route_class=PortalRoute)
# Before sign-in there is no session to hold a CSRF token: double-submit a random one instead.
LOGIN_CSRF_COOKIE = "forgeml_login_csrf"


def safe_next(target: str | None) -> str:
    """Only same-site paths: refuse absolute URLs and protocol-relative ones (`//host`)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def _login_page(
    request: Request, *, next_url: str, email: str = "", error: str = "", status: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    resp = render(
        request, "login.html", status, next=next_url, email=email, error=error, login_csrf=token
    )
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/login",
        max_age=3600,
        secure=cookie_secure(request),
    )
    return resp


@router.get("/login", name="portal.login")
def login_page(request: Request, next: str | None = None) -> Response:
    if request.cookies.get(SESSION_COOKIE):
        svc: Services = request.app.state.services
        try:
            svc.auth.principal_from_session(request.cookies[SESSION_COOKIE])
            return redirect(safe_next(next))
        except Unauthenticated:
            pass
    return _login_page(request, next_url=safe_next(next))


@router.post("/login", name="portal.login_submit")
def login_submit(
    request: Request,
    svc: Annotated[Services, Depends(get_services)],
    form: Annotated[FormData | None, Depends(read_form)],
) -> Response:
    assert form is not None
    email = str(form.get("email") or "").strip()
    password = str(form.get("password") or "")
    next_url = safe_next(str(form.get("next") or "/"))
    given = str(form.get("csrf_token") or "")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(given, expected):
        msg = "Your sign-in form expired; please try again."
        return _login_page(request, next_url=next_url, email=email, error=msg, status=403)
    actor = base_actor(request)
    try:
        user = svc.auth.check_password(actor, email, password)
    except Unauthenticated:
        msg = "Wrong e-mail or password, or the account is disabled."
        return _login_page(request, next_url=next_url, email=email, error=msg, status=401)
    except TooManyRequests:
        msg = "Too many failed sign-ins for this e-mail; wait a few minutes and try again."
        return _login_page(request, next_url=next_url, email=email, error=msg, status=429)
    session = svc.auth.create_session(actor, user)
    if next_url == "/" and user.tenant_id is None:
        next_url = "/admin"
    resp = redirect(next_url)
    set_session_cookie(resp, request, session.cookie)
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return resp


@router.post("/logout", name="portal.logout")
def logout(ctx: Page) -> Response:
    ctx.svc.auth.logout(ctx.actor)
    resp = redirect("/login", "You are signed out.")
    clear_session_cookie(resp)
    return resp

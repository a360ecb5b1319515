"""Who is calling, for the API and the portal alike: a bearer token, or a session cookie with its
CSRF token on unsafe methods; the admin-plane rule. One place, so both transports agree.
"""

from __future__ import annotations

import hmac

from fastapi import Request, Response

from forgeml.domain.errors import Forbidden, Unauthenticated
from forgeml.services.container import Services
from forgeml.services.identity.audit import Actor

SESSION_COOKIE = "forgeml_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in the thread
# pool, one hop (about 0.1 ms, more under load) per dependency per request.


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _source_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def cookie_secure(request: Request) -> bool:
    """Whether credential cookies get `Secure`: always over https (the scheme a trusted proxy
    reported, see `server.trusted_proxies`), or everywhere when `auth.cookie_secure` is set."""
    services: Services = request.app.state.services
    return services.settings.auth.cookie_secure or request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, cookie: str) -> None:
    """The browser session cookie, set the same way by the API's login and the portal's."""
    services: Services = request.app.state.services
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        path="/",
        secure=cookie_secure(request),
        max_age=services.settings.auth.session_ttl_s,
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def base_actor(request: Request) -> Actor:
    """An actor with no principal yet (login, public endpoints)."""
    state = request.scope.setdefault("state", {})
    actor: Actor | None = state.get("actor")
    if actor is None:
        actor = Actor(
            principal=None, source_ip=_source_ip(request), request_id=state.get("request_id")
        )
        state["actor"] = actor
    return actor


def require_credentials(request: Request) -> None:
    """Refuse, without a lookup, a request that carries no credential at all or a malformed one."""
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, raw = auth.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Unauthenticated()
    elif not request.cookies.get(SESSION_COOKIE):
        raise Unauthenticated()


def authenticate(request: Request, services: Services) -> Actor:
    actor = base_actor(request)
    if actor.principal is not None:
        return actor
    require_credentials(request)
    auth = request.headers.get("authorization", "")
    if auth:
        raw = auth.partition(" ")[2]
        actor.principal = services.auth.principal_from_token(raw.strip())
    else:  # require_credentials saw the session cookie
        principal, csrf = services.auth.principal_from_session(request.cookies[SESSION_COOKIE])
        if request.method not in SAFE_METHODS and not _csrf_ok(request, csrf):
            raise Forbidden("missing or wrong CSRF token", code="csrf_failed")
        actor.principal = principal
        request.scope["state"]["csrf_token"] = csrf
    plane = request.app.state.plane
    if plane == "public" and services.settings.admin_listen and actor.principal.is_platform_admin:
        raise Forbidden("platform admins must use the admin listener", code="admin_plane_only")
    return actor


def _csrf_ok(request: Request, expected: str) -> bool:
    given = request.headers.get(CSRF_HEADER) or request.scope.get("state", {}).get("form_csrf")
    return bool(given) and hmac.compare_digest(str(given), expected)

"""Login (session cookie or API token), logout and `/me`."""

from __future__ import annotations

from fastapi import Request, Response

from forgeml.api.deps import AnyActor, CurrentActor, Svc
from forgeml.api.routing import Routes
from forgeml.api.schemas import LoginIn, LoginOut, MeOut, TenantOut, UserOut
from forgeml.edge.auth import clear_session_cookie, set_session_cookie

api = Routes(tags=["auth"], errors=(401, 403))
router = api.router


@api.route("POST /auth/login", "auth.login", LoginOut, errors=(422, 429))
def login(
    body: LoginIn, actor: AnyActor, svc: Svc, request: Request, response: Response
) -> LoginOut:
    """Exchange e-mail and password for a browser session (cookie) or a new API token."""
    user = svc.auth.check_password(actor, body.email, body.password)
    if body.mode == "token":
        new = svc.tokens.create(
            actor, name=body.token_name, scopes=None, expires_in_days=None, user_id=None
        )
        return LoginOut(user=UserOut.model_validate(user), token=new.secret)
    session = svc.auth.create_session(actor, user)
    set_session_cookie(response, request, session.cookie)
    return LoginOut(user=UserOut.model_validate(user), csrf_token=session.csrf_token)


@api.route("POST /auth/logout", "auth.logout", status=204)
def logout(actor: CurrentActor, svc: Svc, response: Response) -> Response:
    svc.auth.logout(actor)
    response.status_code = 204
    clear_session_cookie(response)
    return response


@api.route("GET /me", "me.get", MeOut)
def me(actor: CurrentActor, svc: Svc, request: Request) -> MeOut:
    p = actor.p
    user = svc.users.get(actor, p.user_id)
    tenant = TenantOut.model_validate(svc.tenants.get(actor, p.tenant_id)) if p.tenant_id else None
    return MeOut(
        user=UserOut.model_validate(user),
        tenant=tenant,
        via=p.via,
        scopes=sorted(p.scopes),
        csrf_token=request.scope.get("state", {}).get("csrf_token"),
    )

"""FastAPI dependencies: the calling actor (`edge/auth.py`: token or session + CSRF), services,
pagination."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from forgeml.edge.auth import authenticate, base_actor, get_services, require_credentials
from forgeml.services.container import Services
from forgeml.services.identity.audit import Actor


def current_actor(request: Request) -> Actor:
    # The services straight from the app, not a sub-dependency: one fewer for FastAPI to solve on
    # every authenticated request.
    services: Services = request.app.state.services
    return authenticate(request, services)


CurrentActor = Annotated[Actor, Depends(current_actor)]


class Caller:
    """The caller, authenticated when the route calls `actor()`: in the route's own worker thread,
    so a hot read route hops to a thread once per request, not twice (dependency, then route)."""

    __slots__ = ("_request",)

    def __init__(self, request: Request) -> None:
        self._request = request

    def actor(self) -> Actor:
        return current_actor(self._request)


async def _caller(request: Request) -> Caller:
    base_actor(request)  # the actor is in the request state from the start, as with CurrentActor
    require_credentials(request)  # none at all: 401 before the query is validated
    return Caller(request)


#: For routes whose first act is `caller.actor()`; a present but unknown, revoked or suspended
#: credential is refused there (401/403), after the query parameters are validated (422).
LateActor = Annotated[Caller, Depends(_caller)]


async def _any_actor(request: Request) -> Actor:
    return base_actor(request)


AnyActor = Annotated[Actor, Depends(_any_actor)]
Svc = Annotated[Services, Depends(get_services)]


class PageParams:
    def __init__(self, cursor: str | None, limit: int) -> None:
        self.cursor = cursor
        self.limit = limit


async def _page_params(
    cursor: Annotated[
        str | None, Query(max_length=200, description="opaque cursor from next_cursor")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> PageParams:
    return PageParams(cursor, limit)


Paging = Annotated[PageParams, Depends(_page_params)]
# A list filter naming one object by id (tenant, user, dataset): ids are 32 characters at most.
IdQuery = Annotated[str | None, Query(max_length=32)]


def resources(**params: str) -> dict[str, Any]:
    """Declare which resource type each path parameter names (the cross-tenant test reads this)."""
    return {"x-forgeml-resources": params}

"""FastAPI dependencies: the calling actor (`edge/auth.py`: token or session + CSRF), services,
pagination."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from forgeml.edge.auth import authenticate, base_actor, get_services
from forgeml.services.container import Services
from forgeml.services.identity.audit import Actor


def current_actor(request: Request, services: Annotated[Services, Depends(get_services)]) -> Actor:
    return authenticate(request, services)


CurrentActor = Annotated[Actor, Depends(current_actor)]


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

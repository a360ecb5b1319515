"""Users: tenant admins manage their own tenant's users; platform admins manage all."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from forgeml.api.deps import CurrentActor, IdQuery, Paging, Svc
from forgeml.api.routing import Routes
from forgeml.api.schemas import PageOut, UserCreate, UserOut, UserUpdate, page_of
from forgeml.domain.identity import Role

api = Routes("/users", tags=["users"], errors=(401, 403), ids={"user_id": "user"})
router = api.router


@api.route("POST", "user.create", UserOut, status=201, errors=(404, 409, 422))
def create_user(body: UserCreate, actor: CurrentActor, svc: Svc) -> UserOut:
    user = svc.users.create(
        actor,
        email=body.email,
        name=body.name,
        role=body.role,
        password=body.password,
        tenant_id=body.tenant_id,
    )
    return UserOut.model_validate(user)


@api.route("GET", "user.list", PageOut[UserOut], errors=(422,))
def list_users(
    actor: CurrentActor,
    svc: Svc,
    page: Paging,
    tenant_id: IdQuery = None,
    role: Annotated[Role | None, Query()] = None,
) -> PageOut[UserOut]:
    res = svc.users.list(
        actor,
        tenant_id=tenant_id,
        role=role.value if role else None,
        cursor=page.cursor,
        limit=page.limit,
    )
    return page_of(UserOut.model_validate, res)


@api.route("GET /{user_id}", "user.get", UserOut, errors=(404,))
def get_user(user_id: str, actor: CurrentActor, svc: Svc) -> UserOut:
    return UserOut.model_validate(svc.users.get(actor, user_id))


@api.route("PATCH /{user_id}", "user.update", UserOut, errors=(404, 409, 422))
def update_user(user_id: str, body: UserUpdate, actor: CurrentActor, svc: Svc) -> UserOut:
    return UserOut.model_validate(
        svc.users.update(actor, user_id, body.model_dump(exclude_unset=True))
    )


@api.route("DELETE /{user_id}", "user.delete", status=204, errors=(404, 409))
def delete_user(user_id: str, actor: CurrentActor, svc: Svc) -> Response:
    svc.users.delete(actor, user_id)
    return Response(status_code=204)

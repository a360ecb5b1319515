"""Users: tenant admins manage their own tenant's users; platform admins manage all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from forgeml.api.deps import CurrentActor, Paging, Svc, resources
from forgeml.api.errors import responses
from forgeml.api.schemas import PageOut, UserCreate, UserOut, UserUpdate, page_of
from forgeml.domain.identity import Role

router = APIRouter(prefix="/users", tags=["users"])


@router.post(
    "",
    name="user.create",
    status_code=201,
    response_model=UserOut,
    responses=responses(401, 403, 404, 409, 422),
)
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


@router.get(
    "", name="user.list", response_model=PageOut[UserOut], responses=responses(401, 403, 422)
)
def list_users(
    actor: CurrentActor,
    svc: Svc,
    page: Paging,
    tenant_id: Annotated[str | None, Query(max_length=32)] = None,
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


@router.get(
    "/{user_id}",
    name="user.get",
    response_model=UserOut,
    responses=responses(401, 403, 404),
    openapi_extra=resources(user_id="user"),
)
def get_user(user_id: str, actor: CurrentActor, svc: Svc) -> UserOut:
    return UserOut.model_validate(svc.users.get(actor, user_id))


@router.patch(
    "/{user_id}",
    name="user.update",
    response_model=UserOut,
    responses=responses(401, 403, 404, 409, 422),
    openapi_extra=resources(user_id="user"),
)
def update_user(user_id: str, body: UserUpdate, actor: CurrentActor, svc: Svc) -> UserOut:
    return UserOut.model_validate(
        svc.users.update(actor, user_id, body.model_dump(exclude_unset=True))
    )


@router.delete(
    "/{user_id}",
    name="user.delete",
    status_code=204,
    responses=responses(401, 403, 404, 409),
    openapi_extra=resources(user_id="user"),
)
def delete_user(user_id: str, actor: CurrentActor, svc: Svc) -> Response:
    svc.users.delete(actor, user_id)
    return Response(status_code=204)

"""Checkpoint locations: create, list, show, browse files, download a file or an archive, delete."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from forgeml.api.checkpoint_schemas import CheckpointFileOut, LocationCreate, LocationOut
from forgeml.api.deps import CurrentActor, Paging, Svc, resources
from forgeml.api.errors import responses
from forgeml.api.schemas import PageOut, page_of

router = APIRouter(prefix="/checkpoint-locations", tags=["checkpoints"])
LOC = resources(location_id="checkpoint_location")
_CHUNK = 1024 * 1024


@router.post(
    "",
    name="checkpoint_location.create",
    status_code=201,
    response_model=LocationOut,
    responses=responses(401, 403, 409, 422),
)
def create_location(body: LocationCreate, actor: CurrentActor, svc: Svc) -> LocationOut:
    """A place for checkpoints that outlives jobs: name it in a job's `checkpoint_config`."""
    return LocationOut.model_validate(svc.checkpoints.create(actor, body.name, body.description))


@router.get(
    "",
    name="checkpoint_location.list",
    response_model=PageOut[LocationOut],
    responses=responses(401, 403, 422),
)
def list_locations(actor: CurrentActor, svc: Svc, page: Paging) -> PageOut[LocationOut]:
    res = svc.checkpoints.list(actor, cursor=page.cursor, limit=page.limit)
    return page_of(LocationOut.model_validate, res)


@router.get(
    "/{location_id}",
    name="checkpoint_location.get",
    response_model=LocationOut,
    responses=responses(401, 403, 404, 422),
    openapi_extra=LOC,
)
def get_location(location_id: str, actor: CurrentActor, svc: Svc) -> LocationOut:
    return LocationOut.model_validate(svc.checkpoints.load(actor, location_id))


@router.get(
    "/{location_id}/files",
    name="checkpoint_location.files",
    response_model=PageOut[CheckpointFileOut],
    responses=responses(401, 403, 404, 422),
    openapi_extra=LOC,
)
def list_files(
    location_id: str,
    actor: CurrentActor,
    svc: Svc,
    page: Paging,
    prefix: Annotated[str, Query(max_length=1024)] = "",
) -> PageOut[CheckpointFileOut]:
    """The files jobs synced here, in path order; `prefix` browses one folder."""
    res = svc.checkpoints.files(
        actor, location_id, prefix=prefix, cursor=page.cursor, limit=page.limit
    )
    return page_of(CheckpointFileOut.model_validate, res)


@router.get(
    "/{location_id}/files/{file_path:path}",
    name="checkpoint_location.download_file",
    responses={
        200: {"content": {"application/octet-stream": {}}},
        **responses(401, 403, 404, 422),
    },
    openapi_extra=resources(location_id="checkpoint_location", file_path="checkpoint_file"),
)
def download_file(location_id: str, file_path: str, actor: CurrentActor, svc: Svc) -> Response:
    f, chunks = svc.checkpoints.open_file(actor, location_id, file_path)
    name = quote(f.path.rsplit("/", 1)[-1])
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(f.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
        },
    )


@router.get(
    "/{location_id}/archive",
    name="checkpoint_location.download_archive",
    responses={200: {"content": {"application/gzip": {}}}, **responses(401, 403, 404, 422)},
    openapi_extra=LOC,
)
def download_archive(location_id: str, actor: CurrentActor, svc: Svc) -> Response:
    loc, spool = svc.checkpoints.archive(actor, location_id)
    return StreamingResponse(
        _read(spool),
        media_type="application/gzip",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(loc.name)}.tar.gz"},
    )


def _read(spool: IO[bytes]) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(_CHUNK):
            yield chunk


@router.delete(
    "/{location_id}",
    name="checkpoint_location.delete",
    status_code=204,
    responses=responses(401, 403, 404, 409, 422),
    openapi_extra=LOC,
)
def delete_location(location_id: str, actor: CurrentActor, svc: Svc) -> Response:
    """Delete the location and every file in it (refused while a queued or running job uses it)."""
    svc.checkpoints.delete(actor, location_id)
    return Response(status_code=204)

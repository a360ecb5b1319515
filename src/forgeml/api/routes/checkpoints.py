"""Checkpoint locations: create, list, show, browse files, download a file or an archive, delete."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Annotated

from fastapi import Query, Response
from fastapi.responses import StreamingResponse

from forgeml.api.checkpoint_schemas import CheckpointFileOut, LocationCreate, LocationOut
from forgeml.api.deps import CurrentActor, Paging, Svc
from forgeml.api.routing import Routes, attachment
from forgeml.api.schemas import PageOut, page_of

api = Routes(
    "/checkpoint-locations",
    tags=["checkpoints"],
    errors=(401, 403),
    ids={"location_id": "checkpoint_location", "file_path": "checkpoint_file"},
)
router = api.router
_CHUNK = 1024 * 1024


@api.route("POST", "checkpoint_location.create", LocationOut, status=201, errors=(409, 422))
def create_location(body: LocationCreate, actor: CurrentActor, svc: Svc) -> LocationOut:
    """A place for checkpoints that outlives jobs: name it in a job's `checkpoint_config`."""
    return LocationOut.model_validate(svc.checkpoints.create(actor, body.name, body.description))


@api.route("GET", "checkpoint_location.list", PageOut[LocationOut], errors=(422,))
def list_locations(actor: CurrentActor, svc: Svc, page: Paging) -> PageOut[LocationOut]:
    res = svc.checkpoints.list(actor, cursor=page.cursor, limit=page.limit)
    return page_of(LocationOut.model_validate, res)


@api.route("GET /{location_id}", "checkpoint_location.get", LocationOut, errors=(404, 422))
def get_location(location_id: str, actor: CurrentActor, svc: Svc) -> LocationOut:
    return LocationOut.model_validate(svc.checkpoints.load(actor, location_id))


@api.route(
    "GET /{location_id}/files",
    "checkpoint_location.files",
    PageOut[CheckpointFileOut],
    errors=(404, 422),
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


@api.route(
    "GET /{location_id}/files/{file_path:path}",
    "checkpoint_location.download_file",
    errors=(404, 422),
    media="application/octet-stream",
)
def download_file(location_id: str, file_path: str, actor: CurrentActor, svc: Svc) -> Response:
    f, chunks = svc.checkpoints.open_file(actor, location_id, file_path)
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(f.size),
            "Content-Disposition": attachment(f.path.rsplit("/", 1)[-1]),
        },
    )


@api.route(
    "GET /{location_id}/archive",
    "checkpoint_location.download_archive",
    errors=(404, 422),
    media="application/gzip",
)
def download_archive(location_id: str, actor: CurrentActor, svc: Svc) -> Response:
    loc, spool = svc.checkpoints.archive(actor, location_id)
    return StreamingResponse(
        _read(spool),
        media_type="application/gzip",
        headers={"Content-Disposition": attachment(f"{loc.name}.tar.gz")},
    )


def _read(spool: IO[bytes]) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(_CHUNK):
            yield chunk


@api.route(
    "DELETE /{location_id}", "checkpoint_location.delete", status=204, errors=(404, 409, 422)
)
def delete_location(location_id: str, actor: CurrentActor, svc: Svc) -> Response:
    """Delete the location and every file in it (refused while a queued or running job uses it)."""
    svc.checkpoints.delete(actor, location_id)
    return Response(status_code=204)

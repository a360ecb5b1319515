"""Datasets and their committed versions: catalog, file lists, downloads (Range, tar), presign."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Path, Query, Response
from fastapi.responses import FileResponse, StreamingResponse

from forgeml.api.dataset_schemas import (
    DatasetCreate,
    DatasetDetail,
    DatasetOut,
    DatasetUpdate,
    FileOut,
    PathIn,
    PresignOut,
    UsageOut,
    VersionOut,
)
from forgeml.api.deps import CurrentActor, IdQuery, LateActor, Paging, Svc
from forgeml.api.errors import envelope
from forgeml.api.routing import Rendered, Routes, attachment
from forgeml.api.schemas import INT_MAX, PageOut, page_of
from forgeml.domain.datasets import DatasetKind
from forgeml.services.datasets.downloads import RangeNotSatisfiable
from forgeml.storage.base import CHUNK_SIZE

IDS = {"dataset_id": "dataset", "number": "dataset_version", "file_path": "dataset_file"}
api = Routes("/datasets", tags=["datasets"], errors=(401, 403), ids=IDS)
router = api.router
# Version numbers are INTEGER columns: a larger one is the documented 422, not an overflow.
VersionNumber = Annotated[int, Path(ge=1, le=INT_MAX)]
_PAGE = Rendered(PageOut[DatasetOut])
_DETAIL = Rendered(DatasetDetail)


@api.route("POST", "dataset.create", DatasetOut, status=201, errors=(409, 422))
def create_dataset(body: DatasetCreate, actor: CurrentActor, svc: Svc) -> DatasetOut:
    ds = svc.datasets.create(
        actor,
        name=body.name,
        kind=body.kind,
        description=body.description,
        schema_notes=body.schema_notes,
    )
    return DatasetOut.model_validate(ds)


@api.route("GET", "dataset.list", PageOut[DatasetOut], errors=(422,))
def list_datasets(
    caller: LateActor, svc: Svc, page: Paging, kind: Annotated[DatasetKind | None, Query()] = None
) -> Response:
    res = svc.datasets.list(caller.actor(), kind=kind, cursor=page.cursor, limit=page.limit)
    return _PAGE(page_of(DatasetOut.model_validate, res))


@api.route("GET /usage", "dataset.usage", UsageOut, errors=(404, 422))
def usage(actor: CurrentActor, svc: Svc, tenant_id: IdQuery = None) -> UsageOut:
    u = svc.datasets.usage(actor, tenant_id)
    return UsageOut(
        tenant_id=u.tenant_id,
        quota_bytes=u.quota_bytes,
        used_bytes=u.used_bytes,
        committed_bytes=u.committed_bytes,
        uploading_bytes=u.uploading_bytes,
        checkpoint_bytes=u.checkpoint_bytes,
    )


@api.route("GET /{dataset_id}", "dataset.get", DatasetDetail, errors=(404,))
def get_dataset(dataset_id: str, caller: LateActor, svc: Svc) -> Response:
    ds, latest = svc.datasets.get(caller.actor(), dataset_id)
    out = DatasetDetail.model_validate(ds)
    out.latest_version = VersionOut.model_validate(latest) if latest else None
    return _DETAIL(out)


@api.route("PATCH /{dataset_id}", "dataset.update", DatasetOut, errors=(404, 422))
def update_dataset(
    dataset_id: str, body: DatasetUpdate, actor: CurrentActor, svc: Svc
) -> DatasetOut:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    return DatasetOut.model_validate(svc.datasets.update(actor, dataset_id, changes))


@api.route("DELETE /{dataset_id}", "dataset.delete", status=204, errors=(404, 409))
def delete_dataset(dataset_id: str, actor: CurrentActor, svc: Svc) -> Response:
    svc.datasets.delete(actor, dataset_id)
    return Response(status_code=204)


@api.route(
    "GET /{dataset_id}/versions", "dataset_version.list", PageOut[VersionOut], errors=(404, 422)
)
def list_versions(
    dataset_id: str, actor: CurrentActor, svc: Svc, page: Paging
) -> PageOut[VersionOut]:
    res = svc.datasets.versions(actor, dataset_id, cursor=page.cursor, limit=page.limit)
    return page_of(VersionOut.model_validate, res)


@api.route(
    "GET /{dataset_id}/versions/{number}", "dataset_version.get", VersionOut, errors=(404, 422)
)
def get_version(
    dataset_id: str, number: VersionNumber, actor: CurrentActor, svc: Svc
) -> VersionOut:
    return VersionOut.model_validate(svc.datasets.version(actor, dataset_id, number))


@api.route(
    "GET /{dataset_id}/versions/{number}/manifest",
    "dataset_version.manifest",
    errors=(404, 422),
    media="application/json",
)
def get_manifest(dataset_id: str, number: VersionNumber, actor: CurrentActor, svc: Svc) -> Response:
    v, body = svc.datasets.downloads.manifest(actor, dataset_id, number)
    return Response(
        body, media_type="application/json", headers={"x-forgeml-digest": v.digest or ""}
    )


@api.route(
    "GET /{dataset_id}/versions/{number}/files",
    "dataset_version.files",
    PageOut[FileOut],
    errors=(404, 422),
)
def list_files(
    dataset_id: str, number: VersionNumber, actor: CurrentActor, svc: Svc, page: Paging
) -> PageOut[FileOut]:
    res = svc.datasets.downloads.files(
        actor, dataset_id, number, cursor=page.cursor, limit=page.limit
    )
    return page_of(FileOut.model_validate, res)


@api.route(
    "GET /{dataset_id}/versions/{number}/files/{file_path:path}",
    "dataset.download",
    errors=(404, 416, 422),
    media="application/octet-stream",
    ok={206: {"description": "Partial content (Range)"}},
)
def download_file(
    dataset_id: str,
    number: VersionNumber,
    file_path: str,
    actor: CurrentActor,
    svc: Svc,
    range_: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    dl = svc.datasets.downloads
    try:
        read = dl.read_file(actor, dataset_id, number, file_path, range_)
    except RangeNotSatisfiable as exc:
        size = exc.details.get("size", 0)
        return envelope(
            416, exc.code, exc.message, exc.details, {"Content-Range": f"bytes */{size}"}
        )
    f = read.file
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(max(read.end - read.start + 1, 0)),
        "ETag": f'"{f.sha256}"',
        "x-checksum-sha256": f.sha256 or "",
        "Content-Disposition": attachment(f.path.rsplit("/", 1)[-1]),
    }
    if read.partial:
        headers["Content-Range"] = f"bytes {read.start}-{read.end}/{f.size}"
    elif range_ is None and (path := dl.local_file(read)) is not None:
        # File store: FileResponse reads the file in big blocks, no store iterator per chunk.
        # Only without a Range header: FileResponse would answer ranges its own way.
        resp = FileResponse(path, media_type=f.content_type, headers=headers)
        resp.chunk_size = CHUNK_SIZE
        return resp
    return StreamingResponse(
        dl.stream(read),
        status_code=206 if read.partial else 200,
        media_type=f.content_type,
        headers=headers,
    )


@api.route(
    "GET /{dataset_id}/versions/{number}/archive",
    "dataset.download_archive",
    errors=(404, 422),
    media="application/x-tar",
)
def download_archive(
    dataset_id: str, number: VersionNumber, actor: CurrentActor, svc: Svc
) -> Response:
    ds, v, chunks = svc.datasets.downloads.archive(actor, dataset_id, number)
    return StreamingResponse(
        chunks,
        media_type="application/x-tar",
        headers={
            "Content-Disposition": attachment(f"{ds.name}-v{v.number}.tar"),
            "x-forgeml-digest": v.digest or "",
        },
    )


@api.route(
    "POST /{dataset_id}/versions/{number}/presign",
    "dataset.presign",
    PresignOut,
    errors=(404, 409, 422),
)
def presign(
    dataset_id: str, number: VersionNumber, body: PathIn, actor: CurrentActor, svc: Svc
) -> PresignOut:
    url, expires = svc.datasets.downloads.presign(actor, dataset_id, number, body.path)
    return PresignOut(url=url, expires_at=expires)

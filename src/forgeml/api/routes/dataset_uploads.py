"""Upload sessions: create, inspect (resume), stream files and archives in, presigned parts, commit.

The file and archive PUTs are exempt from the JSON body limit (`main.DATASET_UPLOAD`) and pass
the request body to the store chunk by chunk from a worker thread: no whole file in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
from fastapi import Header, Query, Request
from starlette.requests import ClientDisconnect

from forgeml.api.dataset_schemas import (
    FileOut,
    PartOut,
    PartsIn,
    PartsOut,
    PartUrl,
    PathIn,
    UploadCreate,
    UploadOut,
    VersionOut,
)
from forgeml.api.deps import CurrentActor, Paging, Svc
from forgeml.api.routing import Routes
from forgeml.api.schemas import PageOut, page_of
from forgeml.domain.datasets import DatasetFile
from forgeml.domain.errors import InvalidInput
from forgeml.services.datasets.parts import Session
from forgeml.services.datasets.upload_files import FileDecl
from forgeml.storage.base import CHUNK_SIZE

T = TypeVar("T")
IDS = {"dataset_id": "dataset", "upload_id": "dataset_upload", "file_path": "dataset_file"}
api = Routes("/datasets/{dataset_id}/uploads", tags=["datasets"], errors=(401, 403), ids=IDS)
router = api.router
STREAM_BODY = {
    "requestBody": {
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    }
}


def file_out(f: DatasetFile, parts: list[dict[str, int | str]] | None = None) -> FileOut:
    out = FileOut.model_validate(f)
    out.multipart = f.upload_id is not None
    out.parts = [
        PartOut(part_number=int(p["part_number"]), size=int(p["size"])) for p in parts or []
    ]
    return out


def session_out(s: Session) -> UploadOut:
    return UploadOut(
        version=VersionOut.model_validate(s.version),
        files=[file_out(f, s.parts.get(f.id)) for f in s.files],
    )


#: Body bytes read ahead of the worker thread, in batches of about CHUNK_SIZE: bounded memory.
PREFETCH_BATCHES = 4


class _BodyChunks:
    """The request body as a plain iterator of the pieces the server received, for a worker thread.

    A task on the event loop (`pump`) keeps reading the socket into a small bounded queue while
    the worker hashes and writes the previous pieces, so receiving and writing overlap. Pieces
    travel in batches of about CHUNK_SIZE: the worker pays one thread hop per batch, not one per
    64 KiB piece, and no byte is copied to re-join pieces into blocks.
    """

    def __init__(self, request: Request) -> None:
        self.request = request
        # The S3 backend reads from s3transfer's own threads, not the AnyIO worker thread.
        self.token = anyio.lowlevel.current_token()
        self.tx, self.rx = anyio.create_memory_object_stream[list[bytes]](PREFETCH_BATCHES)
        self.error: Exception | None = None

    async def pump(self) -> None:
        batch: list[bytes] = []
        size = 0
        async with self.tx:
            try:
                async for piece in self.request.stream():
                    if piece:
                        batch.append(piece)
                        size += len(piece)
                    if size >= CHUNK_SIZE:
                        await self.tx.send(batch)
                        batch, size = [], 0
                if batch:
                    await self.tx.send(batch)
            except Exception as exc:  # handed to the consumer: a cut body must not look complete
                self.error = exc
            except BaseException:  # cancelled (shutdown past its grace): the body is cut too
                self.error = ClientDisconnect()
                raise

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                yield from anyio.from_thread.run(self.rx.receive, token=self.token)
            except anyio.EndOfStream:
                if self.error is not None:
                    raise self.error from None
                return


async def _run(request: Request, call: Callable[[Iterable[bytes]], T]) -> T:
    """Run a streaming service call on the request body in a worker thread; a vanished client
    is a clean 4xx (its partial bytes were discarded by the store), not an unexpected error."""
    body = _BodyChunks(request)
    failure: Exception | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(body.pump)
        try:
            result = await anyio.to_thread.run_sync(call, body)
        except Exception as exc:  # re-raised outside: a task group would wrap it in a group
            failure = exc
        tg.cancel_scope.cancel()  # the call may fail before reading the whole body
    if isinstance(failure, ClientDisconnect):
        raise InvalidInput(
            "upload interrupted: the client disconnected", code="client_disconnected"
        ) from failure
    if failure is not None:
        raise failure
    return result


def _length(request: Request) -> int | None:
    """The body size the client announced. Read from the request, not declared as a header
    parameter: Content-Length belongs to HTTP framing, and a schema that offers it invites
    clients (and fuzzers) to send one that does not match the body."""
    value = request.headers.get("content-length")
    return int(value) if value and value.isdigit() else None


@api.route("POST", "dataset_upload.create", UploadOut, status=201, errors=(404, 409, 422))
def create_upload(dataset_id: str, body: UploadCreate, actor: CurrentActor, svc: Svc) -> UploadOut:
    decls = [FileDecl(f.path, f.size, f.sha256, f.content_type) for f in body.files]
    return session_out(svc.datasets.uploads.create(actor, dataset_id, decls, body.expires_in_s))


@api.route("GET", "dataset_upload.list", PageOut[VersionOut], errors=(404, 422))
def list_uploads(
    dataset_id: str, actor: CurrentActor, svc: Svc, page: Paging
) -> PageOut[VersionOut]:
    res = svc.datasets.uploads.sessions(actor, dataset_id, cursor=page.cursor, limit=page.limit)
    return page_of(VersionOut.model_validate, res)


@api.route("GET /{upload_id}", "dataset_upload.get", UploadOut, errors=(404,))
def get_upload(dataset_id: str, upload_id: str, actor: CurrentActor, svc: Svc) -> UploadOut:
    return session_out(svc.datasets.uploads.get(actor, dataset_id, upload_id))


@api.route(
    "PUT /{upload_id}/files/{file_path:path}",
    "dataset_upload.put_file",
    FileOut,
    errors=(404, 409, 422),
    body=STREAM_BODY,
)
async def put_file(
    dataset_id: str,
    upload_id: str,
    file_path: str,
    request: Request,
    actor: CurrentActor,
    svc: Svc,
    content_type: Annotated[str | None, Header()] = None,
    x_content_sha256: Annotated[str | None, Header()] = None,
) -> FileOut:
    def call(body: Iterable[bytes]) -> DatasetFile:
        return svc.datasets.uploads.put_file(
            actor,
            dataset_id,
            upload_id,
            file_path,
            body,
            size=_length(request),
            sha256=x_content_sha256,
            content_type=content_type,
        )

    return file_out(await _run(request, call))


@api.route(
    "PUT /{upload_id}/archive",
    "dataset_upload.put_archive",
    list[FileOut],
    errors=(404, 409, 413, 422),
    body=STREAM_BODY,
)
async def put_archive(
    dataset_id: str,
    upload_id: str,
    request: Request,
    actor: CurrentActor,
    svc: Svc,
    prefix: Annotated[str, Query(max_length=1024, description="folder to unpack into")] = "",
) -> list[FileOut]:
    def call(body: Iterable[bytes]) -> list[DatasetFile]:
        return svc.datasets.uploads.put_archive(
            actor, dataset_id, upload_id, body, prefix=prefix, size=_length(request)
        )

    return [file_out(f) for f in await _run(request, call)]


@api.route(
    "POST /{upload_id}/parts", "dataset_upload.presign_parts", PartsOut, errors=(404, 409, 422)
)
def presign_parts(
    dataset_id: str, upload_id: str, body: PartsIn, actor: CurrentActor, svc: Svc
) -> PartsOut:
    decl = FileDecl(body.path, body.size or 0, body.sha256, body.content_type)
    plan = svc.datasets.uploads.plan_parts(actor, dataset_id, upload_id, decl, body.part_size)
    return PartsOut(
        file=file_out(plan.file),
        part_size=plan.part_size,
        part_count=plan.part_count,
        parts=[PartUrl(part_number=n, url=u) for n, u in sorted(plan.urls.items())],
        expires_at=plan.expires_at,
    )


@api.route(
    "POST /{upload_id}/parts/complete",
    "dataset_upload.complete_parts",
    FileOut,
    errors=(404, 409, 422),
)
def complete_parts(
    dataset_id: str, upload_id: str, body: PathIn, actor: CurrentActor, svc: Svc
) -> FileOut:
    return file_out(svc.datasets.uploads.complete_parts(actor, dataset_id, upload_id, body.path))


@api.route("POST /{upload_id}/commit", "dataset_upload.commit", VersionOut, errors=(404, 409, 422))
def commit(dataset_id: str, upload_id: str, actor: CurrentActor, svc: Svc) -> VersionOut:
    return VersionOut.model_validate(svc.datasets.uploads.commit(actor, dataset_id, upload_id))


@api.route("DELETE /{upload_id}", "dataset_upload.abort", VersionOut, errors=(404, 409))
def abort(dataset_id: str, upload_id: str, actor: CurrentActor, svc: Svc) -> VersionOut:
    return VersionOut.model_validate(svc.datasets.uploads.abort(actor, dataset_id, upload_id))

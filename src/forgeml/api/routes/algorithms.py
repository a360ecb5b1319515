"""Algorithm registry routes: `/admin/algorithms/...` for platform admins, `/algorithms/...` cards.

The whole admin prefix answers 404 to tenant principals (a router dependency, audited as
denied), so bundles, build logs and manifests have no route a tenant can reach.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, StreamingResponse

from forgeml.api.algorithm_schemas import (
    AlgorithmAdminOut,
    AlgorithmCardOut,
    BuildLineOut,
    BuildLogOut,
    BuildProgressOut,
    HyperparametersIn,
    HyperparametersOut,
    VersionAdminDetail,
    VersionAdminOut,
    VersionCardOut,
)
from forgeml.api.deps import CurrentActor, Paging, Svc
from forgeml.api.routing import Routes
from forgeml.api.schemas import PageOut, page_of
from forgeml.domain.build_progress import BuildLogPage
from forgeml.domain.errors import InvalidInput, NotFound, PayloadTooLarge
from forgeml.edge.build_follow import BuildFollower
from forgeml.edge.sse import SSE_RESPONSE, Batch, sse_response

_TARGET_MAX = 64  # audit_events.target_id; the whole path stays in the row's details


def platform_admin_only(request: Request, actor: CurrentActor, svc: Svc) -> None:
    """Tenant principals: the admin surface does not exist (404), and the attempt is audited."""
    if actor.p.is_platform_admin:
        return
    route = request.scope.get("route")
    params = request.path_params
    target = params.get("version_id") or params.get("algorithm_id")
    svc.audit.record_standalone(
        actor,
        getattr(route, "name", None) or "unmatched",
        target_type="algorithm_version" if "version_id" in params else "algorithm",
        target_id=target[:_TARGET_MAX] if target else None,  # any text a tenant sent: cut
        outcome="denied",
        details={"status": 404, "method": request.method, "path": request.url.path},
    )
    raise NotFound("not found")


IDS = {"algorithm_id": "algorithm", "version_id": "algorithm_version"}
admin = Routes(
    "/admin/algorithms",
    tags=["algorithms (admin)"],
    errors=(401, 403),
    ids=IDS,
    dependencies=[Depends(platform_admin_only)],
)
cards = Routes("/algorithms", tags=["algorithms"], errors=(401, 403), ids=IDS)
router = APIRouter()

VERSION = "/{algorithm_id}/versions/{version_id}"
IncludeDeprecated = Annotated[
    bool, Query(description="also show deprecated versions (hidden by default)")
]
_BUNDLE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the bundle: a tar.gz with forgeml.yaml at its root (`forgeml algorithm "
        "register` packs a folder)",
        "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
    }
}
_CHUNK = 1 << 20
_POLL_S = 0.5  # the builder writes its lines twice a second


async def _spool(request: Request, limit: int) -> Any:
    """Copy the streamed body to a temp file, refusing (413) as soon as it passes `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"bundle over {limit} bytes", details={"limit": limit})
    spool = tempfile.TemporaryFile(prefix="forgeml-upload-")  # noqa: SIM115 - returned open
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"bundle over {limit} bytes", details={"limit": limit})
            await run_in_threadpool(spool.write, chunk)
        if size == 0:
            raise InvalidInput.fields([{"loc": "body", "msg": "send the bundle (tar.gz) as body"}])
        spool.seek(0)
        return spool
    except BaseException:
        spool.close()
        raise


@admin.route(
    "POST",
    "algorithm.register",
    VersionAdminOut,
    status=201,
    errors=(404, 409, 413, 422),
    body=_BUNDLE_BODY,
)
async def register_algorithm(
    request: Request,
    actor: CurrentActor,
    svc: Svc,
    build: Annotated[bool, Query(description="queue the environment build now")] = False,
) -> VersionAdminOut:
    spool = await _spool(request, svc.settings.algorithm_max_bundle_bytes)
    try:
        version = await run_in_threadpool(svc.algorithms.register, actor, spool, build=build)
    finally:
        spool.close()
    return VersionAdminOut.model_validate(version)


@admin.route("GET", "algorithm.list", PageOut[AlgorithmAdminOut], errors=(404, 422))
def list_algorithms(
    actor: CurrentActor,
    svc: Svc,
    page: Paging,
    name: Annotated[str | None, Query(max_length=63)] = None,
) -> PageOut[AlgorithmAdminOut]:
    res = svc.algorithms.list_admin(actor, name=name, cursor=page.cursor, limit=page.limit)
    return page_of(AlgorithmAdminOut.of, res)


@admin.route("GET /{algorithm_id}", "algorithm.get", AlgorithmAdminOut, errors=(404,))
def get_algorithm(algorithm_id: str, actor: CurrentActor, svc: Svc) -> AlgorithmAdminOut:
    return AlgorithmAdminOut.of(svc.algorithms.get_admin(actor, algorithm_id))


@admin.route(f"GET {VERSION}", "algorithm_version.get", VersionAdminDetail, errors=(404,))
def get_version(
    algorithm_id: str, version_id: str, actor: CurrentActor, svc: Svc
) -> VersionAdminDetail:
    return VersionAdminDetail.model_validate(
        svc.algorithms.version_admin(actor, algorithm_id, version_id)
    )


# a media-type-less class: errors are documented as the JSON envelope, not as text/plain
@admin.route(
    f"GET {VERSION}/build-log",
    "algorithm_version.build_log",
    errors=(404,),
    media="text/plain",
    response_class=Response,
)
def build_log(algorithm_id: str, version_id: str, actor: CurrentActor, svc: Svc) -> Any:
    return PlainTextResponse(svc.algorithms.build_log(actor, algorithm_id, version_id))


_BUILD_PAGE = 1000


@admin.route(
    f"GET {VERSION}/build-log/lines",
    "algorithm_version.build_log_lines",
    BuildLogOut,
    errors=(404, 422),
)
def build_log_lines(
    algorithm_id: str,
    version_id: str,
    actor: CurrentActor,
    svc: Svc,
    after: Annotated[int, Query(ge=0, description="the next_after of the previous page")] = 0,
    limit: Annotated[int, Query(ge=1, le=_BUILD_PAGE)] = _BUILD_PAGE,
) -> BuildLogOut:
    """The latest build's phase, counters and newest lines (capped per build), as they come."""
    page = svc.algorithms.build_log_page(actor, algorithm_id, version_id, after=after, limit=limit)
    return BuildLogOut.of(page, after)


@admin.route(
    f"GET {VERSION}/build-log/stream",
    "algorithm_version.build_log_stream",
    errors=(404, 422),
    ok=SSE_RESPONSE,
    response_class=StreamingResponse,
)
def build_log_stream(
    algorithm_id: str,
    version_id: str,
    request: Request,
    actor: CurrentActor,
    svc: Svc,
    after: Annotated[int, Query(ge=0)] = 0,
) -> StreamingResponse:
    """The build as server-sent events: `build` (phase, counters) when it changes, `log` per
    line (`id:` = line id), then `end` once the build is over (a rebuild starts over)."""
    svc.algorithms.build_log_page(actor, algorithm_id, version_id, after=0, limit=1)  # 404, audit
    follow = BuildFollower(
        after,
        lambda b: BuildProgressOut.model_validate(b).model_dump(mode="json"),
        lambda x: BuildLineOut.model_validate(x).model_dump(mode="json"),
    )

    def poll() -> Batch:
        def page(pos: int) -> BuildLogPage:
            return svc.algorithms.build_log_page(
                actor, algorithm_id, version_id, after=pos, limit=_BUILD_PAGE, audit=False
            )

        return follow.poll(page)

    return sse_response(request, svc, poll, _POLL_S)


@admin.route(
    f"GET {VERSION}/bundle",
    "algorithm_version.download",
    errors=(404,),
    media="application/gzip",
    response_class=StreamingResponse,
)
def download_bundle(algorithm_id: str, version_id: str, actor: CurrentActor, svc: Svc) -> Any:
    version, opened = svc.algorithms.open_bundle(actor, algorithm_id, version_id)

    def chunks() -> Iterator[bytes]:
        with opened as it:
            yield from it

    filename = f"{version.name}-{version.version}.tar.gz"
    return StreamingResponse(
        chunks(),
        media_type="application/gzip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Length": str(version.size_bytes),
            "X-Forgeml-Digest": version.digest,
        },
    )


@admin.route(
    f"POST {VERSION}/deprecate", "algorithm_version.deprecate", VersionAdminOut, errors=(404, 409)
)
def deprecate(algorithm_id: str, version_id: str, actor: CurrentActor, svc: Svc) -> VersionAdminOut:
    """Hide from tenants and refuse new jobs; running jobs and existing results are unaffected."""
    v = svc.algorithms.set_deprecated(actor, algorithm_id, version_id, True)
    return VersionAdminOut.model_validate(v)


@admin.route(
    f"POST {VERSION}/undeprecate",
    "algorithm_version.undeprecate",
    VersionAdminOut,
    errors=(404, 409),
)
def undeprecate(
    algorithm_id: str, version_id: str, actor: CurrentActor, svc: Svc
) -> VersionAdminOut:
    v = svc.algorithms.set_deprecated(actor, algorithm_id, version_id, False)
    return VersionAdminOut.model_validate(v)


@admin.route(
    f"POST {VERSION}/rebuild", "algorithm_version.rebuild", VersionAdminOut, errors=(404, 409)
)
def rebuild(algorithm_id: str, version_id: str, actor: CurrentActor, svc: Svc) -> VersionAdminOut:
    """Queue a new build of a failed (or never built) environment."""
    return VersionAdminOut.model_validate(svc.algorithms.rebuild(actor, algorithm_id, version_id))


# --- tenant view: cards ----------------------------------------------------------------------


@cards.route("GET", "algorithm.cards", PageOut[AlgorithmCardOut], errors=(422,))
def list_cards(
    actor: CurrentActor, svc: Svc, page: Paging, include_deprecated: IncludeDeprecated = False
) -> PageOut[AlgorithmCardOut]:
    res = svc.algorithms.cards(
        actor, include_deprecated=include_deprecated, cursor=page.cursor, limit=page.limit
    )
    return page_of(AlgorithmCardOut.of, res)


@cards.route("GET /{algorithm_id}", "algorithm.card", AlgorithmCardOut, errors=(404, 422))
def get_card(
    algorithm_id: str, actor: CurrentActor, svc: Svc, include_deprecated: IncludeDeprecated = False
) -> AlgorithmCardOut:
    item = svc.algorithms.card(actor, algorithm_id, include_deprecated=include_deprecated)
    return AlgorithmCardOut.of(item)


@cards.route(f"GET {VERSION}", "algorithm_version.card", VersionCardOut, errors=(404, 422))
def get_version_card(
    algorithm_id: str,
    version_id: str,
    actor: CurrentActor,
    svc: Svc,
    include_deprecated: IncludeDeprecated = False,
) -> VersionCardOut:
    v = svc.algorithms.version_card(
        actor, algorithm_id, version_id, include_deprecated=include_deprecated
    )
    return VersionCardOut.of(v)


@cards.route(
    f"POST {VERSION}/validate-hyperparameters",
    "algorithm_version.validate_hyperparameters",
    HyperparametersOut,
    errors=(404, 422),
)
def validate_hyperparameters(
    algorithm_id: str, version_id: str, body: HyperparametersIn, actor: CurrentActor, svc: Svc
) -> HyperparametersOut:
    """What a job would get: defaults applied, every problem listed at once (422)."""
    values = svc.algorithms.validate_hyperparameters(
        actor, version_id, body.hyperparameters, algorithm_id=algorithm_id
    )
    return HyperparametersOut(hyperparameters=values)


router.include_router(admin.router)
router.include_router(cards.router)

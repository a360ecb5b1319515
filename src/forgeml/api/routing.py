"""`Routes`: an APIRouter whose routes are declared in one line of data each, e.g.
`@api.route("GET /{token_id}", "token.get", TokenOut, errors=(404,))`; what all routes of a router
share (path parameters' resource types, error statuses) is declared once, on the router.
Also the one `Content-Disposition` of the routes' downloads (`attachment`), `Rendered` (a hot
route's JSON, serialized once) and `add_flat` (routers' routes added as plain routes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Response, params
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter

from forgeml.api.deps import resources
from forgeml.api.errors import responses

F = TypeVar("F", bound=Callable[..., Any])
OpenApiResponses = dict[int | str, dict[str, Any]]

_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")  # `{job_id}` and `{file_path:path}`
_METHODS = frozenset({"GET", "PUT", "POST", "PATCH", "DELETE"})


class Routes:
    """Builds `router` (prefix, tags, router dependencies as for `APIRouter`).

    `errors`: the error statuses every route of the router documents (401 and 403 where all
    take credentials), before each route's own. `ids` maps each path parameter name to its
    resource type; every route whose path has parameters declares them in `x-forgeml-resources`
    (the cross-tenant test reads it), in path order. A parameter without an entry is an error
    when the module is imported.
    """

    def __init__(
        self,
        prefix: str = "",
        *,
        tags: list[str],
        errors: tuple[int, ...] = (),
        ids: Mapping[str, str] | None = None,
        dependencies: Sequence[params.Depends] | None = None,
    ) -> None:
        self.router = APIRouter(prefix=prefix, tags=list(tags), dependencies=dependencies)
        self.prefix = prefix
        self.errors = errors
        self.ids = dict(ids or {})

    def route(
        self,
        method_path: str,
        name: str,
        model: Any = None,
        *,
        errors: tuple[int, ...] = (),
        status: int | None = None,
        media: str | None = None,
        ok: OpenApiResponses | None = None,
        body: dict[str, Any] | None = None,
        response_class: type[Response] | None = None,
        description: str | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated function as `"METHOD /path"` (relative to the prefix; `"POST"`
        alone is the prefix itself).

        `name` is the operationId and the audit action; `model` the response model (omit it for
        raw responses: files, streams, 204); `errors` the error statuses it documents besides
        the router's. `media` is the content type of a raw 200, `ok` other success-side
        responses (206, 307, a described 200); `body` an OpenAPI `requestBody` for a body the
        handler reads itself (a stream).
        """
        method, _, path = method_path.partition(" ")
        if method not in _METHODS or (path and not path.startswith("/")):
            raise ValueError(f"route {name}: expected 'METHOD /path', got {method_path!r}")
        documented: OpenApiResponses = {200: {"content": {media: {}}}} if media else {}
        documented |= {**(ok or {}), **responses(*self.errors, *errors)}
        options: dict[str, Any] = {"responses": documented}
        extra = {**self._resources(name, path), **(body or {})}
        for key, value in (
            ("response_model", model),
            ("status_code", status),
            ("openapi_extra", extra),
            ("response_class", response_class),
            ("description", description),
        ):
            if value:  # left out, FastAPI keeps its own defaults (inferred model, JSON class)
                options[key] = value

        def register(endpoint: F) -> F:
            self.router.add_api_route(path, endpoint, methods=[method], name=name, **options)
            return endpoint

        return register

    def _resources(self, name: str, path: str) -> dict[str, Any]:
        found = _PARAM.findall(self.prefix + path)
        missing = [p for p in found if p not in self.ids]
        if missing:
            raise ValueError(f"route {name}: name the resource type of {missing} in Routes(ids=)")
        return resources(**{p: self.ids[p] for p in found}) if found else {}


def attachment(filename: str) -> str:
    """`Content-Disposition` of a download saved as `filename` (RFC 6266: any characters)."""
    return f"attachment; filename*=UTF-8''{quote(filename)}"


class Rendered:
    """JSON of one response model, serialized once: a hot route that built its model returns
    these bytes, so FastAPI neither re-validates the model nor hops to a worker thread to do it
    (the route's declared model still documents it). The bytes are FastAPI's own `dump_json`'s.
    """

    def __init__(self, model: Any) -> None:
        self._adapter: TypeAdapter[Any] = TypeAdapter(model)  # costly to build: once, at import

    def __call__(self, value: BaseModel, status: int = 200) -> Response:
        body = self._adapter.dump_json(value, by_alias=True)
        return Response(body, status_code=status, media_type="application/json")


def add_flat(target: APIRouter, source: APIRouter) -> None:
    """Add `source`'s routes, nested routers' too, to `target` as plain routes, in order.

    FastAPI matches an included router by walking it on every request, twice per nesting
    level (match, then dispatch); flat, each request tries each route once. Every route
    already carries its router's prefix, tags, dependencies and responses.
    """
    for prefix, r in _routes(source):
        options = {name: getattr(r, name) for name in _ROUTE_OPTIONS}
        target.add_api_route(prefix + r.path, r.endpoint, **options)


# What `APIRouter.add_api_route` takes and an `APIRoute` keeps, already merged with its router's.
_ROUTE_OPTIONS = (
    *("response_model", "status_code", "tags", "dependencies", "summary", "description"),
    *("response_description", "responses", "deprecated", "methods", "operation_id"),
    *("response_model_include", "response_model_exclude", "response_model_by_alias"),
    *("response_model_exclude_unset", "response_model_exclude_defaults"),
    *("response_model_exclude_none", "include_in_schema", "response_class", "name"),
    *("callbacks", "openapi_extra", "generate_unique_id_function", "strict_content_type"),
    "max_body_size",
)
_PLAIN_INCLUDE: dict[str, Any] = {"tags": [], "dependencies": [], "responses": {}, "callbacks": []}


def _routes(router: APIRouter) -> Iterator[tuple[str, APIRoute]]:
    """(prefix to add, route) of every route; an include with options of its own is refused
    (its options would have to be folded into each route)."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            yield "", route
            continue
        ctx = getattr(route, "include_context", None)  # FastAPI's included router
        if ctx is None or any(getattr(ctx, k) != v for k, v in _PLAIN_INCLUDE.items()):
            raise TypeError(f"add_flat: cannot flatten {route!r}")
        for prefix, child in _routes(route.original_router):  # type: ignore[attr-defined]
            yield ctx.prefix + prefix, child

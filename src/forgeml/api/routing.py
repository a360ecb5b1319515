"""`Routes`: an APIRouter whose routes are declared in one line of data each, e.g.
`@api.route("GET /{token_id}", "token.get", TokenOut, errors=(404,))`; what all routes of a router
share (path parameters' resource types, error statuses) is declared once, on the router.
Also the one `Content-Disposition` of the routes' downloads (`attachment`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Response, params

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

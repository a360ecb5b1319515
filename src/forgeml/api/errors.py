"""The one JSON error envelope and its handlers; statuses come from `edge/statuses.py`."""

from __future__ import annotations

import re
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from forgeml.domain import errors as e
from forgeml.edge.statuses import status_for

# Retry-After for a 503 whose cause did not say how long to wait.
RETRY_AFTER_S = 5
log = structlog.get_logger("forgeml.api")
UNAVAILABLE_MESSAGE = "a dependency of the service is temporarily unavailable; retry later"
REASON_CHARS = 300  # of an error's message kept for the audit row of a refused call


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


class ErrorBody(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorEnvelope(BaseModel):
    error: ErrorBody


_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, invalid, expired or revoked credentials",
    403: "Not allowed for this role or token scope",
    404: "Not found (or not visible)",
    409: "Conflict with the current state",
    413: "Body too large",
    422: "Invalid input",
    429: "Throttled",
    503: "A dependency is unavailable",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the error statuses a route can return (all use the envelope)."""
    return {
        c: {"model": ErrorEnvelope, "description": _DESCRIPTIONS.get(c, "Error")} for c in codes
    }


def envelope(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


def note_reason(request: Request, code: str, message: str) -> None:
    """Leave the error's code and message where the audit safety net (middleware) finds them,
    so a refused call's audit row says why, not only its status."""
    request.state.error_reason = f"{code}: {message}"[:REASON_CHARS]


# FastAPI's 400 for a body its JSON decoder could not even read (invalid UTF-8)
_BODY_PARSE_ERROR = "There was an error parsing the body"


def install(app: FastAPI) -> None:
    @app.exception_handler(e.ForgeError)
    async def _forge(request: Request, exc: e.ForgeError) -> JSONResponse:
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status in (429, 503):
            headers = {"Retry-After": str(exc.details.get("retry_after_s", RETRY_AFTER_S))}
        if status == 503:
            # An outage's own text names hosts, buckets and keys: it goes to the server log,
            # the caller learns only that it is temporary.
            structlog.get_logger("forgeml.api").warning(
                "dependency unavailable", detail=exc.message
            )
            details = {"retry_after_s": int(headers["Retry-After"])} if headers else {}
            note_reason(request, exc.code, UNAVAILABLE_MESSAGE)
            return envelope(503, exc.code, UNAVAILABLE_MESSAGE, details, headers)
        note_reason(request, exc.code, exc.message)
        return envelope(status, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            if err.get("type") == "json_invalid":
                loc = "body"  # its loc is a character offset, not a field
            problems.append(
                {
                    "loc": loc,
                    "msg": str(err.get("msg", "invalid")),
                    "type": str(err.get("type", "")),
                }
            )
        message = "; ".join(f"{p['loc']}: {p['msg']}" for p in problems[:5])
        note_reason(request, "invalid_input", message or "invalid input")
        return envelope(422, "invalid_input", message or "invalid input", {"errors": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _BODY_PARSE_ERROR:
            # bytes that are not UTF-8 JSON: the same documented 422 as malformed JSON
            problem = {"loc": "body", "msg": "not a UTF-8 JSON document", "type": "json_invalid"}
            note_reason(request, "invalid_input", "body: not a UTF-8 JSON document")
            return envelope(
                422, "invalid_input", "body: not a UTF-8 JSON document", {"errors": [problem]}
            )
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        msg = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            allow = allowed_methods(request, (headers or {}).get("Allow"))
            headers = {**(headers or {}), "Allow": allow}
        note_reason(request, code, msg)
        return envelope(exc.status_code, code, msg, headers=headers)


def allowed_methods(request: Request, starlette_allow: str | None) -> str:
    """Every documented method of this path. Starlette names only the first route that matched
    the path, and FastAPI keeps one route per method, so its `Allow` lists one method. The most
    literal template wins, as in routing: `/datasets/usage` is not `/datasets/{dataset_id}`."""
    methods = {m.strip() for m in (starlette_allow or "").split(",") if m.strip()}
    path = request.scope["path"]
    matches = [
        (holes, verbs) for rx, holes, verbs in _path_methods(request.app) if rx.fullmatch(path)
    ]
    fewest = min((holes for holes, _ in matches), default=0)
    for holes, verbs in matches:
        if holes == fewest:
            methods |= verbs
    return ", ".join(sorted(methods))


def _path_methods(app: FastAPI) -> list[tuple[re.Pattern[str], int, set[str]]]:
    """(path regex, number of parameters, methods) per path of the OpenAPI document, cached."""
    cached: list[tuple[re.Pattern[str], int, set[str]]] | None = getattr(app.state, "allow", None)
    if cached is None:
        cached = []
        for template, item in app.openapi()["paths"].items():
            literal = re.split(r"\{[^}]+\}", template)
            verbs = {m.upper() for m in item if m in _HTTP_METHODS}
            rx = re.compile("[^/]+".join(re.escape(p) for p in literal))
            cached.append((rx, len(literal) - 1, verbs))
        app.state.allow = cached
    return cached


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch"})

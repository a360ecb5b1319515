"""One table from domain errors to HTTP statuses, and the one JSON error envelope."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from forgeml.domain import errors as e

# Retry-After for a 503 whose cause did not say how long to wait.
RETRY_AFTER_S = 5

STATUS: dict[type[e.ForgeError], int] = {
    e.InvalidInput: 422,
    e.NotFound: 404,
    e.Conflict: 409,
    e.Unauthenticated: 401,
    e.Forbidden: 403,
    e.QuotaExceeded: 403,
    e.TooManyRequests: 429,
    e.PayloadTooLarge: 413,
    e.Unavailable: 503,
}

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


def status_for(exc: e.ForgeError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def envelope(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(e.ForgeError)
    async def _forge(_: Request, exc: e.ForgeError) -> JSONResponse:
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status in (429, 503):
            headers = {"Retry-After": str(exc.details.get("retry_after_s", RETRY_AFTER_S))}
        return envelope(status, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
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
        return envelope(422, "invalid_input", message or "invalid input", {"errors": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        msg = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return envelope(exc.status_code, code, msg, headers=getattr(exc, "headers", None))

"""One table from domain errors to HTTP statuses, for the API's envelope and the portal's pages."""

from __future__ import annotations

from forgeml.domain import errors as e

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


def status_for(exc: e.ForgeError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500

"""Errors raised by the SDK: the server's envelope, unpacked."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """A non-2xx answer from the server, carrying the envelope's code, message and details."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


class NotConfigured(Exception):
    """No server URL or credentials: set FORGEML_URL/FORGEML_TOKEN or run `forgeml login`."""


def error_from(resp: httpx.Response) -> ApiError:
    """The envelope of an error answer as an `ApiError` (a plain-text answer keeps its text)."""
    try:
        err = resp.json()["error"]
        return ApiError(resp.status_code, err["code"], err["message"], err.get("details"))
    except (ValueError, KeyError, TypeError):
        return ApiError(resp.status_code, "http_error", resp.text[:200] or resp.reason_phrase)

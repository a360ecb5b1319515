"""The one error tree of ForgeML.

Every layer raises these; `api/errors.py` maps each class to an HTTP status and the JSON envelope
`{"error": {"code", "message", "details"}}`. The CLI prints `message` and exits non-zero.
"""

from __future__ import annotations

from typing import Any


class ForgeError(Exception):
    """Base class: a stable machine `code`, a human `message`, optional structured `details`."""

    code = "error"

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details or {}


class InvalidInput(ForgeError):
    """The request is well-formed but its content is wrong (422)."""

    code = "invalid_input"

    @classmethod
    def fields(cls, problems: list[dict[str, str]], message: str | None = None) -> InvalidInput:
        """Build an error listing every problem as `{"loc": "a.b", "msg": "..."}`."""
        msg = message or "; ".join(f"{p['loc']}: {p['msg']}" for p in problems)
        return cls(msg, details={"errors": problems})


class NotFound(ForgeError):
    """The object does not exist *or is not visible to the caller* (404; never leaks existence)."""

    code = "not_found"


class Conflict(ForgeError):
    """The object already exists or is in a state that forbids the operation (409)."""

    code = "conflict"


class Unauthenticated(ForgeError):
    """No valid credentials; the message never says which part was wrong (401)."""

    code = "unauthenticated"

    def __init__(self, message: str = "invalid or missing credentials", **kw: Any):
        super().__init__(message, **kw)


class Forbidden(ForgeError):
    """Authenticated, visible, but the role or token scope does not allow it (403)."""

    code = "forbidden"


class TooManyRequests(ForgeError):
    """Throttled, e.g. repeated failed logins (429)."""

    code = "too_many_requests"


class PayloadTooLarge(ForgeError):
    """A body or upload exceeds a configured limit (413)."""

    code = "payload_too_large"


class QuotaExceeded(ForgeError):
    """A tenant quota would be exceeded (403 with its own code)."""

    code = "quota_exceeded"


class Unavailable(ForgeError):
    """A dependency (database, object store, executor) is not reachable (503)."""

    code = "unavailable"

"""Object key safety: the one place that decides which keys a store accepts.

Keys are built by the platform from ids, so a refused key is a bug or an attack, never user error.
"""

from __future__ import annotations

from forgeml.domain.errors import InvalidInput

MAX_KEY_BYTES = 1024
#: First segment reserved for the file backend's staging area; refused everywhere so that every
#: backend accepts exactly the same keys.
RESERVED_SEGMENT = ".forgeml-store"


def _refuse(key: str, why: str) -> InvalidInput:
    # repr() keeps control characters readable in logs and error envelopes.
    return InvalidInput(f"invalid object key {key[:80]!r}: {why}", details={"reason": why})


def _check_chars(key: str) -> None:
    if not isinstance(key, str):
        raise InvalidInput(f"object key must be a string, not {type(key).__name__}")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise _refuse(key, "not valid UTF-8") from None
    if len(encoded) > MAX_KEY_BYTES:
        raise _refuse(key, f"longer than {MAX_KEY_BYTES} bytes")
    if key.startswith("/"):
        raise _refuse(key, "starts with '/'")
    if "\\" in key:
        raise _refuse(key, "contains a backslash")
    # C0, DEL and C1 controls: NUL truncates paths in C code, newlines forge log lines.
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in key):
        raise _refuse(key, "contains a control character")


def _check_segment(key: str, index: int, segment: str) -> None:
    if segment == "":
        raise _refuse(key, "empty path segment")
    if segment in (".", ".."):
        raise _refuse(key, f"'{segment}' path segment")
    if index == 0 and segment == RESERVED_SEGMENT:
        raise _refuse(key, f"'{RESERVED_SEGMENT}' is reserved")


def check_key(key: str) -> str:
    """Return `key` unchanged if it is a safe object key, else raise `InvalidInput`.

    Refused: empty keys, over 1024 UTF-8 bytes, a leading '/', backslashes, NUL and other control
    characters, empty segments ('a//b', 'a/'), '.' and '..' segments, and the reserved first
    segment '.forgeml-store'.
    """
    _check_chars(key)
    if key == "":
        raise _refuse(key, "empty")
    for index, segment in enumerate(key.split("/")):
        _check_segment(key, index, segment)
    return key


def check_prefix(prefix: str) -> str:
    """Validate a listing prefix: '' (everything), whole segments, or a partial last segment.

    Every complete segment follows the key rules; the last (partial) one may be empty, which is
    how 'a/b/' (everything inside 'a/b') is written.
    """
    _check_chars(prefix)
    if prefix == "":
        return prefix
    segments = prefix.split("/")
    for index, segment in enumerate(segments[:-1]):
        _check_segment(prefix, index, segment)
    if len(segments) == 1 and segments[0] == RESERVED_SEGMENT:
        raise _refuse(prefix, f"'{RESERVED_SEGMENT}' is reserved")
    return prefix


def join_key(*parts: str) -> str:
    """Join parts with '/' (a part may itself contain '/', e.g. a relative path) and check it.

    `join_key("tenants", tenant_id, "datasets", dataset_id, "v1", "images/a.png")`.
    """
    if not parts:
        raise InvalidInput("object key needs at least one part")
    return check_key("/".join(parts))

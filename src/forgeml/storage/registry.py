"""Choose an object store backend by URL scheme: `file:///abs/path`, `s3://bucket/prefix`,
`memory://name`, plus any scheme registered with `register_backend`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from forgeml.config import S3Settings
from forgeml.domain.errors import InvalidInput
from forgeml.storage.base import ObjectStore

#: `factory(url, s3_settings) -> ObjectStore`; the URL is passed whole, the factory parses it.
BackendFactory = Callable[[str, S3Settings | None], ObjectStore]

_BACKENDS: dict[str, BackendFactory] = {}
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
# S3 bucket naming rules (lower case, digits, dots, hyphens; 3-63 characters).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def register_backend(scheme: str, factory: BackendFactory) -> None:
    """Make `open_store` build `factory(url, s3)` for `scheme://...` URLs (replaces any earlier)."""
    if not _SCHEME.match(scheme):
        raise InvalidInput(f"invalid URL scheme {scheme!r}")
    _BACKENDS[scheme] = factory


def known_schemes() -> list[str]:
    return sorted(_BACKENDS)


def open_store(url: str, s3: S3Settings | None = None) -> ObjectStore:
    """Build the store that `url` names; an unknown scheme raises `InvalidInput`."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    factory = _BACKENDS.get(scheme)
    if factory is None:
        schemes = ", ".join(f"{s}://" for s in known_schemes())
        raise InvalidInput(
            f"unsupported storage URL {_redact(url)!r}: use one of {schemes}",
            details={"known_schemes": known_schemes()},
        )
    return factory(url, s3)


def _redact(url: str) -> str:
    """Hide anything that looks like credentials in an error message."""
    return re.sub(r"//[^/@]*@", "//***@", url)


def _file_store(url: str, s3: S3Settings | None) -> ObjectStore:
    from forgeml.storage.local import FileObjectStore

    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InvalidInput(f"file storage URL must be file:///absolute/path, got {url!r}")
    path = unquote(parts.path)
    if not path.startswith("/") or parts.query or parts.fragment:
        raise InvalidInput(f"file storage URL must be file:///absolute/path, got {url!r}")
    return FileObjectStore(Path(path))


def _s3_store(url: str, s3: S3Settings | None) -> ObjectStore:
    from forgeml.storage.s3 import S3ObjectStore

    parts = urlsplit(url)
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise InvalidInput("s3 storage URL is s3://bucket/prefix; credentials go in settings")
    if not _BUCKET.match(parts.netloc):
        raise InvalidInput(f"invalid S3 bucket name {parts.netloc!r}")
    return S3ObjectStore(parts.netloc, unquote(parts.path).strip("/"), s3)


def _memory_store(url: str, s3: S3Settings | None) -> ObjectStore:
    from forgeml.storage.memory import MemoryObjectStore

    parts = urlsplit(url)
    return MemoryObjectStore(parts.netloc + parts.path)


register_backend("file", _file_store)
register_backend("s3", _s3_store)
register_backend("memory", _memory_store)

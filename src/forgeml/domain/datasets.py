"""Datasets, versions, files and grants (pure data), the user-path rules and object-key layout.

Object keys are built from ids only; user paths live in the manifest, never in a key.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import unquote

from forgeml.domain.errors import InvalidInput

MAX_SEGMENT_BYTES = 255
MAX_PATH_BYTES = 1024
DATASET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SESSION_TTL_S = 24 * 3600  # an upload session untouched this long expires and is collected


class DatasetKind(StrEnum):
    TENANT = "tenant"
    PLATFORM = "platform"


class VersionStatus(StrEnum):
    UPLOADING = "uploading"
    COMMITTED = "committed"
    ABORTED = "aborted"
    EXPIRED = "expired"


class FileState(StrEnum):
    PENDING = "pending"
    UPLOADED = "uploaded"


@dataclass(frozen=True)
class Dataset:
    id: str
    tenant_id: str | None
    kind: DatasetKind
    name: str
    description: str
    schema_notes: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DatasetVersion:
    id: str
    dataset_id: str
    tenant_id: str | None
    number: int
    status: VersionStatus
    file_count: int
    size_bytes: int
    digest: str | None
    created_at: datetime
    committed_at: datetime | None
    expires_at: datetime | None
    created_by: str | None


@dataclass(frozen=True)
class DatasetFile:
    id: str
    version_id: str
    tenant_id: str | None
    path: str
    size: int | None
    sha256: str | None  # declared until uploaded; then the hash the server computed
    content_type: str
    object_key: str
    state: FileState
    upload_id: str | None  # a multipart upload straight to the store (S3 presigned parts)
    part_size: int | None


@dataclass(frozen=True)
class Grant:
    id: str
    dataset_id: str
    tenant_id: str
    algorithms: tuple[str, ...] | None  # None: any algorithm
    expires_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def allows(self, algorithm: str | None, now: datetime) -> bool:
        return self.active(now) and (self.algorithms is None or algorithm in self.algorithms)


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    size: int
    sha256: str
    content_type: str
    object_key: str


@dataclass(frozen=True)
class ResolvedInput:
    """What a training job needs to mount one dataset version (`DatasetService.resolve_input`)."""

    dataset_id: str
    version_id: str
    version: int
    kind: DatasetKind
    digest: str
    entries: tuple[ManifestEntry, ...]


def canonical_manifest(entries: Iterable[ManifestEntry]) -> bytes:
    """The manifest as stored and hashed: sorted by path, keys sorted, no whitespace."""
    files = {
        e.path: {"size": e.size, "sha256": e.sha256, "content_type": e.content_type}
        for e in sorted(entries, key=lambda e: e.path)
    }
    return json.dumps({"files": files}, sort_keys=True, separators=(",", ":")).encode()


def manifest_digest(entries: Iterable[ManifestEntry]) -> str:
    return hashlib.sha256(canonical_manifest(entries)).hexdigest()


# --- user paths -----------------------------------------------------------------------------


def check_dataset_name(name: str) -> str:
    if not DATASET_NAME_RE.match(name):
        raise InvalidInput.fields(
            [{"loc": "name", "msg": "use 1-100 letters, digits, '.', '_' or '-'"}]
        )
    return name


def path_problem(path: str) -> str | None:
    """Why `path` is not an acceptable relative file path inside a version, or None."""
    if not isinstance(path, str) or path == "":
        return "empty path"
    problem = _raw_problem(path)
    if problem:
        return problem
    # Clients, proxies and object stores decode percent escapes at different layers: a path that
    # would become unsafe once decoded (`%2e%2e`, `%2f`) is refused, however many times encoded.
    decoded = path
    for _ in range(4):
        nxt = unquote(decoded)
        if nxt == decoded:
            break
        if _raw_problem(nxt) or nxt.count("/") != path.count("/"):
            return "percent-encoded separator, traversal or control character"
        decoded = nxt
    return None


def _raw_problem(path: str) -> str | None:
    if "\x00" in path:
        return "contains NUL"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in path):
        return "contains a control character"
    if "\\" in path:
        return "contains a backslash (use '/')"
    if path.startswith("/"):
        return "absolute path (must be relative)"
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        return f"longer than {MAX_PATH_BYTES} bytes"
    for seg in path.split("/"):
        if seg == "":
            return "empty path segment ('//' or a trailing '/')"
        if seg in (".", ".."):
            return f"'{seg}' segment (no traversal)"
        if len(seg.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
            return f"segment longer than {MAX_SEGMENT_BYTES} bytes"
        if seg.strip() == "":
            return "segment of only whitespace"
    return None


def fold(path: str) -> str:
    """Comparison form: NFC + case-folded, so 'A.csv' and 'a.csv' count as the same file."""
    return unicodedata.normalize("NFC", path).casefold()


def path_problems(
    paths: Iterable[str], loc: str = "files", existing: Iterable[str] = ()
) -> list[dict[str, str]]:
    """Every problem of a batch of paths (bad paths, duplicates) at once, as InvalidInput rows."""
    problems: list[dict[str, str]] = []
    seen = {fold(p): p for p in existing}
    for i, path in enumerate(paths):
        why = path_problem(path)
        if why is None:
            key = fold(path)
            if key in seen:
                why = f"duplicate of {seen[key]!r} (paths are compared case-insensitively)"
            seen[key] = path
        if why:
            problems.append({"loc": f"{loc}.{i}.path", "msg": f"{path[:120]!r}: {why}"})
    return problems


def check_path(path: str, loc: str = "path") -> str:
    why = path_problem(path)
    if why:
        raise InvalidInput.fields([{"loc": loc, "msg": f"{path[:120]!r}: {why}"}])
    return path

"""Tenant checkpoint locations (SageMaker's CheckpointConfig): names, the job's local path rule,
and the paths of the files a job left in one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

from forgeml.domain.errors import InvalidInput

LOCATION_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,99}$")
DEFAULT_LOCAL_PATH = "/opt/ml/checkpoints"
SANDBOX_ROOT = PurePosixPath("/opt/ml")
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# Parts of /opt/ml the platform owns: a checkpoint folder there would mix with inputs/artifacts.
_RESERVED = frozenset({"input", "code", "model", "output"})
MAX_LOCAL_PATH = 512
MAX_DESCRIPTION = 1000


@dataclass(frozen=True)
class CheckpointLocation:
    id: str
    tenant_id: str
    name: str
    description: str
    file_count: int
    size_bytes: int
    last_job_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CheckpointFile:
    location_id: str
    path: str
    size: int
    object_key: str
    updated_at: datetime


@dataclass(frozen=True)
class CheckpointConfig:
    """What a job asked for: a location (id or name) and where the program sees it."""

    location: str
    local_path: str = DEFAULT_LOCAL_PATH


def check_location_name(name: str) -> str:
    if not LOCATION_NAME_RE.fullmatch(name) or name.startswith("ckpt_"):
        raise InvalidInput.fields(
            [{"loc": "name", "msg": "1-100 letters, digits, '.', '_' or '-', not starting ckpt_"}]
        )
    return name


def local_path_problem(path: str) -> str | None:
    """Allowlist: an absolute path strictly under /opt/ml, plain segments, no `..`, not reserved."""
    if len(path) > MAX_LOCAL_PATH or not path.startswith(f"{SANDBOX_ROOT}/"):
        return f"must be an absolute path under {SANDBOX_ROOT}/"
    parts = path[len(str(SANDBOX_ROOT)) + 1 :].split("/")
    if any(p in {"", ".", ".."} or not _SEGMENT_RE.fullmatch(p) for p in parts):
        return "each segment: letters, digits, '.', '_' or '-' (no '..', no '//', no trailing '/')"
    if parts[0] in _RESERVED:
        return f"{SANDBOX_ROOT}/{parts[0]} belongs to the platform; use e.g. {DEFAULT_LOCAL_PATH}"
    return None


def local_relative(path: str) -> str:
    """The local path relative to /opt/ml (validated first)."""
    problem = local_path_problem(path)
    if problem:
        raise InvalidInput.fields([{"loc": "checkpoint_config.local_path", "msg": problem}])
    return path[len(str(SANDBOX_ROOT)) + 1 :]


def file_path_problem(rel: str) -> str | None:
    """A path the program wrote inside the checkpoint folder, as we store and serve it."""
    if not rel or len(rel) > 1024 or "\0" in rel or "\\" in rel:
        return "empty, too long, or has a NUL or backslash"
    parts = PurePosixPath(rel).parts
    if rel.startswith("/") or any(p in {".", ".."} for p in parts) or "//" in rel:
        return "must be a plain relative path"
    return None

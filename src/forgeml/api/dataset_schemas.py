"""Request and response bodies of the data lake: datasets, uploads, platform datasets, grants."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from forgeml.api.mirror import mirrors
from forgeml.api.schemas import BIGINT_MAX, Input, Output
from forgeml.domain.datasets import (
    DATASET_NAME_RE,
    Dataset,
    DatasetKind,
    DatasetVersion,
    FileState,
    Grant,
)

SHA256 = r"^[0-9a-f]{64}$"


class PathInput(Input):
    """File paths are taken verbatim: stripping spaces would silently rename a file."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class DatasetCreate(Input):
    name: str = Field(
        min_length=1, max_length=100, pattern=DATASET_NAME_RE.pattern, examples=["churn-2026"]
    )
    kind: DatasetKind = DatasetKind.TENANT
    description: str = Field(default="", max_length=4000)
    schema_notes: str = Field(default="", max_length=20000)


class DatasetUpdate(Input):
    description: str | None = Field(default=None, max_length=4000)
    schema_notes: str | None = Field(default=None, max_length=20000)


@mirrors(DatasetVersion, exclude=("tenant_id",))
class VersionOut(Output):
    pass


@mirrors(Dataset)
class DatasetOut(Output):
    pass


class DatasetDetail(DatasetOut):
    latest_version: VersionOut | None = None


class FileDeclIn(PathInput):
    # No pattern: domain/datasets.path_problem lists every bad path of a declaration at once,
    # with its reason; a schema pattern would stop at the first with a regex for a message.
    path: str = Field(max_length=4096)
    size: int = Field(ge=0, le=BIGINT_MAX)
    sha256: str | None = Field(default=None, pattern=SHA256)
    content_type: str | None = Field(default=None, max_length=255)


class UploadCreate(Input):
    files: list[FileDeclIn] = Field(default_factory=list, max_length=100_000)
    expires_in_s: int | None = Field(default=None, ge=60, le=7 * 24 * 3600)


class PartOut(BaseModel):
    part_number: int
    size: int


class FileOut(Output):
    id: str
    path: str
    size: int | None
    sha256: str | None
    content_type: str
    state: FileState
    multipart: bool = False
    parts: list[PartOut] = Field(default_factory=list)


class UploadOut(BaseModel):
    version: VersionOut
    files: list[FileOut]


class PartsIn(PathInput):
    path: str = Field(max_length=4096)
    size: int | None = Field(
        default=None, ge=0, le=BIGINT_MAX, description="declare the file if not yet"
    )
    sha256: str | None = Field(default=None, pattern=SHA256)
    content_type: str | None = Field(default=None, max_length=255)
    part_size: int | None = Field(default=None, ge=5 * 1024 * 1024, le=5 * 1024**3)


class PartUrl(BaseModel):
    part_number: int
    url: str


class PartsOut(BaseModel):
    file: FileOut
    part_size: int
    part_count: int
    parts: list[PartUrl] = Field(description="presigned PUT URLs of the parts still missing")
    expires_at: datetime


class PathIn(PathInput):
    path: str = Field(max_length=4096)


class PresignOut(BaseModel):
    url: str
    expires_at: datetime


class UsageOut(BaseModel):
    tenant_id: str
    quota_bytes: int | None
    used_bytes: int
    committed_bytes: int
    uploading_bytes: int
    checkpoint_bytes: int = Field(default=0, description="files in checkpoint locations")


class GrantCreate(Input):
    dataset_id: str = Field(max_length=32)
    tenant_id: str = Field(max_length=32)
    algorithms: list[str] | None = Field(default=None, max_length=100)
    expires_at: datetime | None = None


@mirrors(Grant)
class GrantOut(Output):
    pass


class PlatformVersionOut(BaseModel):
    number: int
    size_bytes: int
    file_count: int
    committed_at: datetime | None


class PlatformDatasetOut(BaseModel):
    """What a tenant may know of a granted platform dataset: never files, keys or URLs."""

    id: str
    name: str
    description: str
    schema_notes: str
    size_bytes: int
    versions: list[PlatformVersionOut]
    grants: list[GrantOut]

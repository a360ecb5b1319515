"""Bodies of the algorithm registry API: the admin view (everything) and the tenant card view.

The card models are an allow-list: a field is shown to tenants only if it is named here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from forgeml.api.schemas import Input, Output
from forgeml.domain.registry import AlgorithmVersion, AlgorithmWithVersions, VersionStatus


class VersionAdminOut(Output):
    id: str
    algorithm_id: str
    name: str
    version: str
    digest: str
    size_bytes: int
    status: VersionStatus
    failure_reason: str | None
    deprecated: bool
    bundle_key: str
    created_at: datetime
    created_by: str | None
    env_built_at: datetime | None
    card: dict[str, Any]


class VersionAdminDetail(VersionAdminOut):
    manifest: dict[str, Any] = Field(description="the full forgeml.yaml, as validated")


class AlgorithmAdminOut(BaseModel):
    id: str
    name: str
    description: str
    created_at: datetime
    versions: list[VersionAdminOut]

    @classmethod
    def of(cls, item: AlgorithmWithVersions) -> AlgorithmAdminOut:
        a = item.algorithm
        return cls(
            id=a.id,
            name=a.name,
            description=a.description,
            created_at=a.created_at,
            versions=[VersionAdminOut.model_validate(v) for v in item.versions],
        )


class VersionCardOut(BaseModel):
    """A version as tenants see it: the card, never digest, files, requirements or status log."""

    id: str
    algorithm_id: str
    name: str
    version: str
    deprecated: bool
    created_at: datetime
    card: dict[str, Any] = Field(
        description="name, version, description, hyperparameters, channels, metrics, "
        "resource_classes, distributed, network, logs (full|redacted) and environment: the "
        "only variables a job may set, each {description, pattern?, choices?, default?}"
    )

    @classmethod
    def of(cls, v: AlgorithmVersion) -> VersionCardOut:
        return cls(
            id=v.id,
            algorithm_id=v.algorithm_id,
            name=v.name,
            version=v.version,
            deprecated=v.deprecated,
            created_at=v.created_at,
            card=v.card,
        )


class AlgorithmCardOut(BaseModel):
    id: str
    name: str
    description: str
    versions: list[VersionCardOut]

    @classmethod
    def of(cls, item: AlgorithmWithVersions) -> AlgorithmCardOut:
        a = item.algorithm
        return cls(
            id=a.id,
            name=a.name,
            description=a.description,
            versions=[VersionCardOut.of(v) for v in item.versions],
        )


class HyperparametersIn(Input):
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict,
        max_length=1000,
        description="values as text or numbers; null counts as not given",
        examples=[{"epochs": 5, "lr": "0.01"}],
    )


class HyperparametersOut(BaseModel):
    hyperparameters: dict[str, str] = Field(description="the values a job would get, defaults in")

"""The algorithm registry's records: algorithms, their immutable versions, and version status.

Pure data; the manifest rules live in `domain/algorithms.py`, queries in `db/algorithms.py`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from forgeml.domain.algorithms import AlgorithmManifest

# Resource classes do not exist yet; until the jobs feature validates names against its table,
# any name of this shape is accepted (the manifest's own pattern also allows '_').
_RESOURCE_CLASS_RE = re.compile(r"[a-z0-9.-]+")


class VersionStatus(StrEnum):
    """Environment state of a version: registered (not built), building, ready, failed."""

    REGISTERED = "registered"
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class Algorithm:
    id: str
    name: str
    description: str
    created_at: datetime


@dataclass(frozen=True)
class AlgorithmVersion:
    """One registered bundle. `manifest` is admin-only; tenants get `card`."""

    id: str
    algorithm_id: str
    name: str
    version: str
    digest: str
    size_bytes: int
    manifest: dict[str, Any]
    card: dict[str, Any]
    status: VersionStatus
    failure_reason: str | None
    deprecated: bool
    bundle_key: str
    created_at: datetime
    created_by: str | None
    env_built_at: datetime | None

    @property
    def parsed_manifest(self) -> AlgorithmManifest:
        return AlgorithmManifest.model_validate(self.manifest)

    @property
    def digest_hex(self) -> str:
        return self.digest.removeprefix("sha256:")

    @property
    def visible_to_tenants(self) -> bool:
        """Published: not deprecated and not known to be unusable."""
        return not self.deprecated and self.status is not VersionStatus.FAILED


@dataclass(frozen=True)
class AlgorithmWithVersions:
    algorithm: Algorithm
    versions: tuple[AlgorithmVersion, ...]


def tenant_card(manifest: AlgorithmManifest) -> dict[str, Any]:
    """The card tenants see: `manifest.card()` plus `network`.

    `network` is a fact about how the algorithm treats the tenant's data (it may talk to the
    outside world while it holds it), so tenants must be able to see it before they train.
    """
    return {**manifest.card(), "network": manifest.network}


def resource_class_problems(names: Sequence[str]) -> list[dict[str, str]]:
    return [
        {"loc": f"resource_classes.{i}", "msg": f"{name!r} is not a known resource class name"}
        for i, name in enumerate(names)
        if not _RESOURCE_CLASS_RE.fullmatch(name)
    ]

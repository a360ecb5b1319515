"""Bodies of the algorithm registry API: the admin view (everything) and the tenant card view.

The card models are an allow-list: a field is shown to tenants only if it is named here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, Field

from forgeml.api.mirror import mirrors
from forgeml.api.schemas import Input, Output
from forgeml.domain.build_progress import BuildLine, BuildLogPage, BuildProgress
from forgeml.domain.registry import AlgorithmVersion, AlgorithmWithVersions


# card last, where clients have always found it; the manifest only in the detail view
@mirrors(AlgorithmVersion, exclude=("manifest", "card"), extra={"card": dict[str, Any]})
class VersionAdminOut(Output):
    pass


class VersionAdminDetail(VersionAdminOut):
    manifest: dict[str, Any] = Field(description="the full forgeml.yaml, as validated")


class _WithVersions(BaseModel):
    """An algorithm and its versions, showing only the fields the subclass names."""

    @classmethod
    def of(cls, item: AlgorithmWithVersions) -> Self:
        # each version is read by attribute into the subclass's version model, again an allow-list
        a = item.algorithm
        named = {name: getattr(a, name) for name in cls.model_fields if name != "versions"}
        return cls.model_validate({**named, "versions": item.versions}, from_attributes=True)


class AlgorithmAdminOut(_WithVersions):
    id: str
    name: str
    description: str
    created_at: datetime
    versions: list[VersionAdminOut]


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
        return cls.model_validate(v, from_attributes=True)  # the named fields, nothing else


class AlgorithmCardOut(_WithVersions):
    id: str
    name: str
    description: str
    versions: list[VersionCardOut]


class HyperparametersIn(Input):
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict,
        max_length=1000,
        description="values as text or numbers; null counts as not given",
        examples=[{"epochs": 5, "lr": "0.01"}],
    )


class HyperparametersOut(BaseModel):
    hyperparameters: dict[str, str] = Field(description="the values a job would get, defaults in")


# --- environment build logs (admin) ---------------------------------------------------------


@mirrors(BuildProgress)
class BuildProgressOut(Output):
    pass


@mirrors(BuildLine)
class BuildLineOut(Output):
    pass


class BuildLogOut(BaseModel):
    """The latest build (null: never built) and its kept lines after `after`, oldest first."""

    build: BuildProgressOut | None
    items: list[BuildLineOut]
    next_after: int = Field(description="pass as `after` for the next lines")
    finished: bool = Field(description="the build ended and these are its last lines")

    @classmethod
    def of(cls, page: BuildLogPage, after: int) -> Self:
        build = None if page.progress is None else BuildProgressOut.model_validate(page.progress)
        items = [BuildLineOut.model_validate(x) for x in page.lines]
        nxt = page.lines[-1].id if page.lines else after
        return cls(build=build, items=items, next_after=nxt, finished=page.finished)

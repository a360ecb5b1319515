"""Request and response models of tenant quotas and usage reports (docs/quotas.md)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StrictBool

from forgeml.api.mirror import mirrors
from forgeml.api.schemas import BIGINT_MAX, Absent, Output, Patch
from forgeml.domain.quotas import Quota, UsageLine

ClassName = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9._-]*$")]
MAX_BUDGET = 1e12


@mirrors(
    Quota,
    describe={
        "max_concurrent_jobs": "running jobs at once; more stay Pending (null: no limit)",
        "class_instances": "running instances at once per resource class; more stay Pending",
        "monthly_budget": "compute budget per UTC month in jobs.currency (null: none)",
        "budget_hard_stop": "refuse submissions once the budget would be exceeded",
        "storage_bytes": "datasets and checkpoints together (the tenant's storage quota)",
    },
)
class QuotaOut(Output):
    currency: str


class QuotaUpdate(Patch):
    """Absent fields stay; null lifts a limit."""

    nullable: ClassVar[frozenset[str]] = frozenset(
        {"max_concurrent_jobs", "class_instances", "monthly_budget", "storage_bytes"}
    )

    max_concurrent_jobs: int | None = Field(default=None, ge=0, le=100_000)
    class_instances: dict[ClassName, Annotated[int, Field(ge=0, le=100_000)]] | None = Field(
        default=None, max_length=100
    )
    monthly_budget: float | None = Field(default=None, ge=0, le=MAX_BUDGET, allow_inf_nan=False)
    budget_hard_stop: StrictBool | Absent = None
    storage_bytes: int | None = Field(default=None, ge=0, le=BIGINT_MAX)


@mirrors(UsageLine, describe={"amount": "cost in the report's currency"})
class UsageLineOut(Output):
    pass


class UsageReportOut(Output):
    group_by: str
    month: str | None
    currency: str
    total: float | None = Field(description="sum of the lines (null when grouped by tag)")
    lines: list[UsageLineOut]
